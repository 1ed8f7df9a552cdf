// Quoting for the remote POSIX shell. ssh joins its arguments with spaces and hands the result to the
// remote user's login shell, so every word corral sends is quoted here and nowhere else.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace corral::ssh {

// One word, single-quoted ('it'\''s'): the shell expands nothing inside, so "$(...)", ";", spaces,
// globs and newlines stay text. Words made only of safe characters are left bare for readable logs.
std::string shell_quote(std::string_view word);

// Each word quoted, joined with spaces.
std::string shell_join(const std::vector<std::string>& words);

}  // namespace corral::ssh
