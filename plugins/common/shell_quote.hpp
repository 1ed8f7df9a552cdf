// Quoting for a POSIX shell: the ssh runner's remote commands (ssh joins its arguments with spaces and
// hands them to the remote login shell) and the slurm runner's job scripts quote every word here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace corral::plugin_common {

// One word, single-quoted ('it'\''s'): the shell expands nothing inside, so "$(...)", ";", spaces,
// globs and newlines stay text. Words made only of safe characters are left bare for readable logs.
std::string shell_quote(std::string_view word);

// Each word quoted, joined with spaces.
std::string shell_join(const std::vector<std::string>& words);

}  // namespace corral::plugin_common
