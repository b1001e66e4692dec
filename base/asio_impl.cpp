// The one translation unit that compiles Asio and Beast (BOOST_*_SEPARATE_COMPILATION is set
// project-wide). Named .cpp so that sluice_module's *.cc glob does not pick it up twice.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
