#pragma once

// Every place cartd relies on an internal of CAF 0.17.6 (not a documented,
// stable API) goes through this header, and nowhere else. Each shim says
// which assumption it makes and names the test that fails loudly if a CAF
// upgrade breaks it. When CAF is upgraded, this header and those tests are
// the list to go through.
//
// Sections (one per user of an internal):
//   * HTTP direct socket writes        (bindings/http)
//   * the cart's shared behavior        (actors/cart)
//   * request timeouts                  (actors/cart)
//   * the shard's idle sweep            (actors/cart)
//   * supervisor timers                 (runtime/supervision)

namespace cartd::caf_shims {

// -- HTTP direct socket writes ------------------------------------------------

// -- the cart's shared behavior -----------------------------------------------

// -- request timeouts ---------------------------------------------------------

// -- the shard's idle sweep ---------------------------------------------------

// -- supervisor timers --------------------------------------------------------

} // namespace cartd::caf_shims
