// What interleaved rounds can tell about two targets measured side by side: the median of the
// rounds' paired figures (corral's req/s over nginx's, corral's p99 less nginx's, each round's two
// runs seconds apart) with a distribution-free interval around it, and whether that interval
// leaves a threshold behind. This machine's speed moves between rounds by more than two relays
// differ, so a median alone lands either side of a threshold from run to run; the interval says
// when a side is resolved and when the rounds cannot tell.
#pragma once

#include <string>
#include <vector>

namespace corral::bench {

struct PairedVerdict {
    enum class Side { Ahead, Level, Behind };
    double median = 0;
    // The interval [x(k), x(n+1-k)] of the sorted rounds, the narrowest such with a confidence of at
    // least 90 % that it holds the rounds' true median (the sign test's order statistics: no
    // assumption about the figures' distribution, only that rounds are independent). Fewer than
    // five rounds reach no 90 %: then [min, max], and its confidence says how little it holds.
    double low = 0;
    double high = 0;
    double confidence = 0;
    // Ahead: the whole interval on the better side of the threshold; Behind: on the worse side;
    // Level: it straddles the threshold (the rounds do not resolve a difference), or no rounds.
    Side side = Side::Level;
};

// `rounds`: one paired figure per round. `higher_is_better`: req/s ratios (threshold 1) are, p99
// differences (threshold 0) are not.
PairedVerdict paired_verdict(std::vector<double> rounds, double threshold, bool higher_is_better);

// What a section's notes say of its intervals for `rounds` rounds: their confidence ("96 %
// confidence: ..."), or that so few rounds resolve nothing (the --quick runs).
std::string interval_note(std::size_t rounds);

// "ahead", "level", "behind".
const char* to_string(PairedVerdict::Side side);

}  // namespace corral::bench
