// librabbitmq headers: rabbitmq-c >= 0.12 installs them under rabbitmq-c/, Debian's 0.11 at the
// top level.
#pragma once

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif
