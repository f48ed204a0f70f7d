// Defines the Boost.Test module (and its main) for the bindings_http suite.
#define BOOST_TEST_MODULE bindings_http
#include <boost/test/unit_test.hpp>
