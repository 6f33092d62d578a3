// Logging to stderr, filtered by MLA_LOG_LEVEL (off, error, warn, info, debug; default warn).
#pragma once

namespace mla {

enum class LogLevel { Off = 0, Error = 1, Warn = 2, Info = 3, Debug = 4 };

LogLevel log_level();
// Reads an MLA_LOG_LEVEL value (a name or 0-4; NULL or "" is warn); false if it is neither.
bool parse_log_level(const char* s, LogLevel* level);
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace mla
