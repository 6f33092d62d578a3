#include "log.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mla {
namespace {

// Logging itself never fails: a bad value logs at warn (and context creation reports it).
LogLevel level_from_env(const char* s) {
  LogLevel level;
  if (parse_log_level(s, &level)) return level;
  std::fprintf(stderr, "[libmla] warn: MLA_LOG_LEVEL='%s' is not off|error|warn|info|debug|0-4;"
               " using warn\n", s);
  return LogLevel::Warn;
}

}  // namespace

bool parse_log_level(const char* s, LogLevel* level) {
  static const char* const kNames[] = {"off", "error", "warn", "info", "debug"};
  if (s == nullptr || *s == '\0') {
    *level = LogLevel::Warn;
    return true;
  }
  for (int i = 0; i < 5; ++i) {
    if (std::strcmp(s, kNames[i]) == 0) {
      *level = LogLevel(i);
      return true;
    }
  }
  if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0') {
    *level = LogLevel(s[0] - '0');
    return true;
  }
  return false;
}

LogLevel log_level() {
  static const LogLevel level = level_from_env(std::getenv("MLA_LOG_LEVEL"));
  return level;
}

void log(LogLevel level, const char* fmt, ...) {
  if (level == LogLevel::Off || level > log_level()) return;
  static const char* const kTags[] = {"", "error", "warn", "info", "debug"};
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "[libmla] %s: %s\n", kTags[int(level)], buf);
}

}  // namespace mla
