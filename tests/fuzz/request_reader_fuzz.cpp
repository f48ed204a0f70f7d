// The request reader fed the same bytes whole and in pieces must give the
// same answer: the same requests (every field, the body) and the same error,
// and the same has_partial() at the end (issue 13, finding 3). Builds without
// NDEBUG, so Beast's own assertions are checked too (finding 4).
//
// Input: the HTTP bytes, then (consumed from the end) whether to use small
// limits and the sizes of the pieces, used in turn.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "bindings/http/request_reader.hpp"

namespace {

namespace http = cartd::http;

std::string describe(const http::request& req) {
  std::string str{req.msg.method_string()};
  str += ' ';
  str.append(req.msg.target().data(), req.msg.target().size());
  str += ' ';
  str += std::to_string(req.msg.version());
  str += req.is_head ? " head" : "";
  str += req.keep_alive ? " keep-alive" : " close";
  str += req.has_length ? " length" : "";
  str += " path=";
  str += req.path();
  for (auto& field : req.msg) {
    str += '\n';
    str.append(field.name_string().data(), field.name_string().size());
    str += ": ";
    str.append(field.value().data(), field.value().size());
  }
  str += "\nbody=";
  str += req.msg.body();
  return str;
}

struct outcome {
  std::vector<std::string> events;
  bool partial = false;
};

// Calls next() until it needs more; false once the reader failed.
bool drain(http::request_reader& reader, outcome& out) {
  for (;;) {
    switch (reader.next()) {
    case http::read_status::need_more:
      return true;
    case http::read_status::send_continue:
      // Depends on how the bytes arrive, by design.
      break;
    case http::read_status::complete:
      out.events.push_back(describe(reader.take()));
      break;
    case http::read_status::failed: {
      auto& err = reader.error();
      out.events.push_back("error " + std::to_string(err.status) + " " +
                           std::string{err.code} + " " +
                           std::string{err.message});
      return false;
    }
    }
  }
}

[[noreturn]] void disagree(const outcome& whole, const outcome& pieces) {
  auto print = [](const char* what, const outcome& x) {
    std::fprintf(stderr, "-- %s (partial: %d)\n", what, x.partial ? 1 : 0);
    for (auto& ev : x.events)
      std::fprintf(stderr, "%s\n--\n", ev.c_str());
  };
  print("whole", whole);
  print("in pieces", pieces);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp{data, size};
  http::server_config cfg;
  if (fdp.ConsumeBool()) {
    cfg.max_header_size = 256;
    cfg.max_uri_size = 64;
    cfg.max_body_size = 64;
  }
  std::vector<size_t> pieces;
  auto count = fdp.ConsumeIntegralInRange<size_t>(1, 8);
  for (size_t i = 0; i < count; ++i)
    pieces.push_back(fdp.ConsumeIntegralInRange<size_t>(1, 64));
  auto input = fdp.ConsumeRemainingBytesAsString();

  outcome whole;
  {
    http::request_reader reader{cfg};
    reader.append(input);
    if (drain(reader, whole))
      drain(reader, whole); // asking again without new bytes changes nothing
    whole.partial = reader.has_partial();
  }
  outcome split;
  {
    http::request_reader reader{cfg};
    size_t pos = 0;
    bool ok = true;
    for (size_t i = 0; ok && pos < input.size(); ++i) {
      auto n = pieces[i % pieces.size()];
      reader.append(std::string_view{input}.substr(pos, n));
      pos += n;
      ok = drain(reader, split) && drain(reader, split);
    }
    split.partial = reader.has_partial();
  }
  if (whole.events != split.events || whole.partial != split.partial)
    disagree(whole, split);
  return 0;
}
