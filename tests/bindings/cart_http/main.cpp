// Defines the Boost.Test module (and its main) for the bindings_cart_http
// suite.
#define BOOST_TEST_MODULE bindings_cart_http
#include <boost/test/unit_test.hpp>
