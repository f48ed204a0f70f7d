#include <boost/test/unit_test.hpp>

#include <string>

#include "bindings/cartd/conninfo.hpp"

using namespace cartd;

namespace {

void check_hidden(const std::string& conninfo, const std::string& expected) {
  auto masked = mask_password(conninfo);
  BOOST_TEST(masked == expected);
  BOOST_TEST(masked.find("s3cret") == std::string::npos, masked);
}

} // namespace

BOOST_AUTO_TEST_CASE(keyword_passwords_are_masked) {
  check_hidden("host=db password=s3cret dbname=cart",
               "host=db password=***** dbname=cart");
  check_hidden("password = 's3 cret\\' x' host=db", "password=***** host=db");
  check_hidden("PASSWORD=s3cret", "PASSWORD=*****");
  check_hidden("host=db password=s3cret\\ x", "host=db password=*****");
}

BOOST_AUTO_TEST_CASE(strings_without_a_password_are_kept) {
  BOOST_TEST(mask_password("host=127.0.0.1 port=5432 dbname=postgres") ==
             "host=127.0.0.1 port=5432 dbname=postgres");
  BOOST_TEST(mask_password("") == "");
  BOOST_TEST(mask_password("postgresql://cart@db:5433/shop") ==
             "postgresql://cart@db:5433/shop");
}

BOOST_AUTO_TEST_CASE(uri_passwords_are_masked) {
  check_hidden("postgresql://cart:s3cret@db:5432/shop",
               "postgresql://cart:*****@db:5432/shop");
  check_hidden("postgres://cart:s3cret@db", "postgres://cart:*****@db");
  check_hidden("postgresql://db/shop?user=cart&password=s3cret&sslmode=off",
               "postgresql://db/shop?user=cart&password=*****&sslmode=off");
  check_hidden("postgresql://cart:s3cret@db?password=s3cret",
               "postgresql://cart:*****@db?password=*****");
}

BOOST_AUTO_TEST_CASE(unparsable_strings_are_masked_whole) {
  check_hidden("host=db password='s3cret", "*****");
  check_hidden("host=db s3cret", "*****");
}

BOOST_AUTO_TEST_CASE(descriptions_name_host_port_and_dbname_only) {
  BOOST_TEST(describe_conninfo("host=db port=5433 dbname=shop user=cart "
                               "password=s3cret") ==
             "host=db port=5433 dbname=shop");
  BOOST_TEST(describe_conninfo("postgresql://cart:s3cret@db:5433/shop") ==
             "host=db port=5433 dbname=shop");
  BOOST_TEST(describe_conninfo("hostaddr=10.0.0.1") == "host=10.0.0.1");
  BOOST_TEST(describe_conninfo("") == "");
}

BOOST_AUTO_TEST_CASE(libpq_decides_what_is_valid) {
  BOOST_TEST(valid_conninfo(""));
  BOOST_TEST(valid_conninfo("host=db port=5432"));
  BOOST_TEST(valid_conninfo("postgresql://db/shop"));
  BOOST_TEST(!valid_conninfo("host=db nonsense=1"));
  BOOST_TEST(!valid_conninfo("host"));
  BOOST_TEST(!valid_conninfo("postgresql://db/shop?bogus=1"));
}
