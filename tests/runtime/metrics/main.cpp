// The test module of the runtime_metrics suite; the test cases live in the
// *_test.cpp files next to this one.
#define BOOST_TEST_MODULE runtime_metrics
#include <boost/test/unit_test.hpp>
