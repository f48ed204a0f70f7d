#pragma once

// How nodes reach each other: CAF's middleman (BASP), set up in this one
// place so that mutual TLS (a later issue) changes one file. Publishing a
// node's router and connecting to a member go through the middleman actor's
// asynchronous interface (the blocking middleman calls must never run inside
// an actor), always with finite timeouts.

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>

namespace cartd {

/// Sets the middleman options every node of a cluster must share: the
/// application identifier, BASP heartbeats every `heartbeat` and a
/// connection timeout of `connection_timeout` (so a frozen or cut-off peer
/// is noticed), and automatic connections (no routes through a third node).
/// Call before the actor system starts.
void configure_middleman(caf::actor_system_config& cfg, caf::timespan heartbeat,
                         caf::timespan connection_timeout);

// (The owner of runtime/cluster adds the publish and connect helpers here.)

} // namespace cartd
