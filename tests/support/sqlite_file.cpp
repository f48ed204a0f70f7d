#include "tests/support/sqlite_file.hpp"

#include <sqlite3.h>

namespace cartd::test {

std::string integrity_check(const std::string& db_path) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    result = std::string{"cannot open: "} + sqlite3_errmsg(db);
    sqlite3_close(db);
    return result;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    result = std::string{"cannot prepare: "} + sqlite3_errmsg(db);
    sqlite3_close(db);
    return result;
  }
  int rc = 0;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (!result.empty())
      result += "; ";
    result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  if (rc != SQLITE_DONE)
    result += std::string{" (step: "} + sqlite3_errmsg(db) + ")";
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

std::string exec_sql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) {
    result = std::string{"cannot open: "} + sqlite3_errmsg(db);
  } else {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK)
      result = err ? err : "error";
    sqlite3_free(err);
  }
  sqlite3_close(db);
  return result;
}

std::string query_text(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return result;
}

journal_write_lock::journal_write_lock(const std::string& db_path) {
  if (sqlite3_open(db_path.c_str(), &db_) != SQLITE_OK) {
    error_ = std::string{"cannot open: "} + sqlite3_errmsg(db_);
    return;
  }
  // cartd may be committing right now: wait for it.
  sqlite3_busy_timeout(db_, 10000);
  error_ = exec("BEGIN EXCLUSIVE");
  held_ = error_.empty();
}

journal_write_lock::~journal_write_lock() {
  release();
  sqlite3_close(db_);
}

std::string journal_write_lock::release() {
  if (!held_)
    return {};
  held_ = false;
  return exec("ROLLBACK");
}

std::string journal_write_lock::exec(const char* sql) {
  char* err = nullptr;
  std::string result;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK)
    result = err ? err : "error";
  sqlite3_free(err);
  return result;
}

} // namespace cartd::test
