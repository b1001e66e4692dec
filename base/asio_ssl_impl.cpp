// The one translation unit that compiles Asio's SSL support (BOOST_ASIO_SEPARATE_COMPILATION is
// set project-wide; base/asio_impl.cpp compiles the rest of Asio and Beast).
#include <boost/asio/ssl/impl/src.hpp>
