// The test module of the runtime_cluster_postgres suite; the test cases live
// in the *_test.cpp files next to this one.
#define BOOST_TEST_MODULE runtime_cluster_postgres
#include <boost/test/unit_test.hpp>
