#!/bin/sh
# Writes corral's man page (roff, section 1) from its own --help texts, so the two never differ:
# the synopsis, description and global options of `corral --help`, then one subsection per command
# (its usage, summary, options and notes), and the exit status.
# Usage: make-manpage.sh CORRAL OUTPUT
set -eu
corral=$1
out=$2
version=$("$corral" version | sed -n '1s/^corral \([^ ]*\).*/\1/p')

# Help text -> roff. Options become tagged paragraphs; other text is escaped and kept as paragraphs.
to_roff() {
  awk -v mode="$1" '
    function esc(s) {
      gsub(/\\/, "\\e", s)
      gsub(/-/, "\\-", s)
      if (s ~ /^[.\047]/) s = "\\&" s
      return s
    }
    NR == 1 && /^Usage: / {
      sub(/^Usage: /, "")
      if (mode == "command") printf ".SS \"%s\"\n", esc($0)
      next
    }
    /^(Global options|Options):$/ { options = 1; paragraph = 0; if (mode == "main") print ".SH OPTIONS"; next }
    /^Commands:$/ { commands = 1; next }
    /^Subcommands of / { commands = 1; next }
    options && /^  / {
      line = substr($0, 3)
      option = line; sub(/  +.*/, "", option)
      text = line; sub(/^[^ ]+( [^ ]+)*  +/, "", text)
      printf ".TP\n.B %s\n%s\n", esc(option), esc(text)
      next
    }
    commands && /^  / { next }
    /^$/ { options = 0; commands = 0; paragraph = 1; next }
    /^Exit status: / && mode == "main" { sub(/^Exit status: /, ""); printf ".SH \"EXIT STATUS\"\n%s\n", esc($0); next }
    mode == "main" && !described { printf ".SH DESCRIPTION\n"; described = 1; paragraph = 0 }
    {
      if (paragraph) print ".PP"
      paragraph = 0
      print esc($0)
    }
  '
}

{
  printf '.TH CORRAL 1 "" "corral %s" "User Commands"\n' "$version"
  printf '.SH NAME\ncorral \\- local LLM inference servers behind one OpenAI\\-compatible endpoint\n'
  printf '.SH SYNOPSIS\n.B corral\n[\\-\\-log\\-level \\fILEVEL\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n'
  "$corral" --help | to_roff main
  printf '.SH COMMANDS\n'
  "$corral" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z]*\( [a-z][a-z]*\)\{0,1\}\)  .*/\1/p' | while read -r command; do
    # shellcheck disable=SC2086 # a two-word command is two arguments
    "$corral" $command --help | to_roff command
  done
  printf '.SH "SEE ALSO"\nREADME.md (in /usr/share/doc/corral with the package) for configuration, runners and the plugin SDK.\n'
} >"$out.tmp"
mv "$out.tmp" "$out"
