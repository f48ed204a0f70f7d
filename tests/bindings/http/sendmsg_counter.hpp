#pragma once

// Counts the sendmsg calls of this test process. The test executable defines
// sendmsg itself (sendmsg_counter.cpp), so the server's direct writes, which
// are its only sendmsg calls (CAF writes with send), land there first. The
// server tests use it to see which write path a response took.

#include <atomic>
#include <cstddef>

/// sendmsg calls so far.
std::atomic<size_t>& sendmsg_calls();
