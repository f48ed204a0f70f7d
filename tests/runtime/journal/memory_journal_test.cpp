#include <boost/test/unit_test.hpp>

#include "runtime/journal/memory_journal.hpp"

using namespace cartd;

namespace {

bool is_conflict(const caf::error& err) {
  return err.category() == caf::atom("journal") &&
         err.code() == static_cast<uint8_t>(journal_errc::conflict);
}

} // namespace

BOOST_AUTO_TEST_CASE(an_unknown_stream_replays_as_empty) {
  memory_journal journal;
  auto events = journal.replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_CHECK(events->empty());
}

BOOST_AUTO_TEST_CASE(appends_get_consecutive_sequence_numbers) {
  memory_journal journal;
  auto first = journal.append("c1", 0, {"a", "b"});
  BOOST_REQUIRE(first);
  BOOST_CHECK_EQUAL(*first, 2u);
  auto second = journal.append("c1", 2, {"c"});
  BOOST_REQUIRE(second);
  BOOST_CHECK_EQUAL(*second, 3u);
  auto events = journal.replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 3u);
  BOOST_CHECK_EQUAL((*events)[0].seq, 1u);
  BOOST_CHECK_EQUAL((*events)[0].payload, "a");
  BOOST_CHECK_EQUAL((*events)[2].seq, 3u);
  BOOST_CHECK_EQUAL((*events)[2].payload, "c");
}

BOOST_AUTO_TEST_CASE(replay_starts_after_the_given_sequence_number) {
  memory_journal journal;
  BOOST_REQUIRE(journal.append("c1", 0, {"a", "b", "c"}));
  auto events = journal.replay("c1", 2);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 1u);
  BOOST_CHECK_EQUAL(events->front().seq, 3u);
}

BOOST_AUTO_TEST_CASE(
    of_two_writers_extending_the_same_sequence_number_one_wins) {
  memory_journal journal;
  BOOST_REQUIRE(journal.append("c1", 0, {"a"}));
  auto winner = journal.append("c1", 1, {"from-writer-1"});
  auto loser = journal.append("c1", 1, {"from-writer-2"});
  BOOST_REQUIRE(winner);
  BOOST_REQUIRE(!loser);
  BOOST_CHECK(is_conflict(loser.error()));
  auto events = journal.replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_REQUIRE_EQUAL(events->size(), 2u);
  BOOST_CHECK_EQUAL(events->back().payload, "from-writer-1");
}

BOOST_AUTO_TEST_CASE(an_append_ahead_of_the_stream_is_a_conflict) {
  memory_journal journal;
  auto result = journal.append("c1", 5, {"a"});
  BOOST_REQUIRE(!result);
  BOOST_CHECK(is_conflict(result.error()));
  auto events = journal.replay("c1", 0);
  BOOST_REQUIRE(events);
  BOOST_CHECK(events->empty());
}

BOOST_AUTO_TEST_CASE(streams_are_independent) {
  memory_journal journal;
  BOOST_REQUIRE(journal.append("c1", 0, {"a"}));
  BOOST_REQUIRE(journal.append("c2", 0, {"x", "y"}));
  BOOST_CHECK_EQUAL(journal.replay("c1", 0)->size(), 1u);
  BOOST_CHECK_EQUAL(journal.replay("c2", 0)->size(), 2u);
}
