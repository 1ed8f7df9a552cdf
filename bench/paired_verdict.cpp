#include "paired_verdict.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace corral::bench {
namespace {

// The confidence that [x(k), x(n+1-k)] holds the median: 1 - 2 P(Binomial(n, 1/2) < k).
double coverage(std::size_t n, std::size_t k) {
    double below = 0, choose = 1;  // C(n, i)
    for (std::size_t i = 0; i < k; ++i) {
        below += choose;
        choose = choose * static_cast<double>(n - i) / static_cast<double>(i + 1);
    }
    return 1 - 2 * below / std::pow(2.0, static_cast<double>(n));
}

constexpr double kWanted = 0.9;

// The k (1-based) of the interval [x(k), x(n+1-k)] for n rounds: the largest whose coverage is at
// least kWanted, or 1 when none is.
std::size_t interval_rank(std::size_t n) {
    std::size_t k = 1;
    while (2 * (k + 1) <= n && coverage(n, k + 1) >= kWanted) ++k;
    return k;
}

}  // namespace

PairedVerdict paired_verdict(std::vector<double> rounds, double threshold, bool higher_is_better) {
    PairedVerdict v;
    if (rounds.empty()) return v;
    std::sort(rounds.begin(), rounds.end());
    const std::size_t n = rounds.size();
    v.median = n % 2 ? rounds[n / 2] : (rounds[n / 2 - 1] + rounds[n / 2]) / 2;
    const std::size_t k = interval_rank(n);
    v.low = rounds[k - 1];
    v.high = rounds[n - k];
    v.confidence = coverage(n, k);
    if (v.confidence >= kWanted) {
        const bool above = v.low > threshold, below = v.high < threshold;
        if (above) v.side = higher_is_better ? PairedVerdict::Side::Ahead : PairedVerdict::Side::Behind;
        if (below) v.side = higher_is_better ? PairedVerdict::Side::Behind : PairedVerdict::Side::Ahead;
    }
    return v;
}

std::string interval_note(std::size_t rounds) {
    const double confidence = rounds > 0 ? coverage(rounds, interval_rank(rounds)) : 0;
    if (confidence < kWanted) return std::to_string(rounds) + " round(s) are too few for a 90 % interval: no side is resolved";
    char text[96];
    std::snprintf(text, sizeof text, "%.0f %% confidence: the sign test's order statistics of the rounds' figures", 100 * confidence);
    return text;
}

const char* to_string(PairedVerdict::Side side) {
    switch (side) {
        case PairedVerdict::Side::Ahead:
            return "ahead";
        case PairedVerdict::Side::Behind:
            return "behind";
        case PairedVerdict::Side::Level:
            break;
    }
    return "level";
}

}  // namespace corral::bench
