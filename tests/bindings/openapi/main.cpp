// Defines the Boost.Test module (and its main) for the bindings_openapi
// suite.
#define BOOST_TEST_MODULE bindings_openapi
#include <boost/test/unit_test.hpp>
