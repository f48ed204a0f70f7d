// Defines the Boost.Test module (and its main) for the bindings_cartd suite.
#define BOOST_TEST_MODULE bindings_cartd
#include <boost/test/unit_test.hpp>
