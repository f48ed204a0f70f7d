// Defines the Boost.Test module (and its main) for the bindings_grpc suite.
#define BOOST_TEST_MODULE bindings_grpc
#include <boost/test/unit_test.hpp>
