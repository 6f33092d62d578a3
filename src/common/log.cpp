#include "log.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mla {
namespace {

LogLevel parse_level(const char* s) {
  if (s == nullptr || *s == '\0') return LogLevel::Warn;
  static const char* const kNames[] = {"off", "error", "warn", "info", "debug"};
  for (int i = 0; i < 5; ++i) {
    if (std::strcmp(s, kNames[i]) == 0) return LogLevel(i);
  }
  if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0') return LogLevel(s[0] - '0');
  std::fprintf(stderr, "[libmla] warn: MLA_LOG_LEVEL='%s' is not off|error|warn|info|debug|0-4;"
               " using warn\n", s);
  return LogLevel::Warn;
}

}  // namespace

LogLevel log_level() {
  static const LogLevel level = parse_level(std::getenv("MLA_LOG_LEVEL"));
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
