// The one translation unit that defines the Boost.Test module (and main).
#define BOOST_TEST_MODULE actors_cart_model
#include <boost/test/unit_test.hpp>
