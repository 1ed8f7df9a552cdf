// Words a user could put in a config (model paths, names, arguments) that a shell would take apart
// if they were not quoted: the tests of every script corral writes run them through these.
#pragma once

#include <string>
#include <vector>

namespace corral::test {

inline const std::vector<std::string> kHostile = {
    "plain",
    "with space",
    "it's",
    "\"double\"",
    "$(touch CANARY)",
    "`touch CANARY`",
    "; touch CANARY",
    "a && touch CANARY",
    "x | touch CANARY",
    "$HOME",
    "${HOME}",
    "*",
    "~",
    "line\nbreak",
    "back\\slash",
    "'",
    "''",
    "-n",
    "--",
    "a=b",
    "tab\there",
    "\xc3\xa9t\xc3\xa9",
    "",
};

}  // namespace corral::test
