#include "scheduler/placement.hpp"

#include <algorithm>
#include <numeric>

namespace corral::scheduler {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// "GPU-8f3c..." and "8f3c..." name the same CUDA device.
std::string bare_uuid(std::string_view uuid) {
    auto s = lower(uuid);
    return s.rfind("gpu-", 0) == 0 ? s.substr(4) : s;
}

std::string list_devices(const Machine& machine) {
    if (machine.devices.empty()) return "no GPUs";
    std::string out;
    for (const auto& d : machine.devices) out += (out.empty() ? "" : ", ") + d.id + (d.uuid.empty() ? "" : " (" + d.uuid + ")");
    return out;
}

uint64_t saturating_sub(uint64_t a, uint64_t b) {
    return a > b ? a - b : 0;
}

// The current state of the ledger, with some residents set aside (evicted or stopping).
struct Trial {
    const Machine& machine;
    const Demand& demand;
    const Limits& limits;
    std::vector<std::size_t> allowed;  // device indices the model may use; empty: RAM only

    bool count_ok(std::size_t count) const {
        return !limits.max_loaded || count + 1 <= static_cast<std::size_t>(std::max(0, *limits.max_loaded));
    }

    bool overall_ok(const Ledger& l, uint64_t bytes) const {
        if (!machine.overall_cap) return true;
        if (bytes > *machine.overall_cap) return l.total_reserved == 0;  // bigger than the cap: alone
        return l.total_reserved + bytes <= *machine.overall_cap;
    }

    // RAM for `bytes` (clamped to the whole RAM when bigger: loaded alone); nullopt when it is taken.
    std::optional<uint64_t> ram_for(const Ledger& l, uint64_t bytes) const {
        if (!machine.ram_capacity) return bytes;
        if (bytes > *machine.ram_capacity) return l.ram_reserved == 0 ? std::optional<uint64_t>(*machine.ram_capacity) : std::nullopt;
        if (l.ram_reserved + bytes > *machine.ram_capacity) return std::nullopt;
        return bytes;
    }

    std::optional<Plan> fit(const std::vector<const Resident*>& active) const {
        if (!count_ok(active.size())) return std::nullopt;
        Plan plan;
        plan.reservation.machine = machine.name;
        if (machine.managed_elsewhere) {
            plan.reason = "on " + machine.name + " (capacity managed there)";
            return plan;
        }
        std::vector<Resident> here;
        for (const auto* r : active) here.push_back(*r);
        const auto l = ledger_of(machine, here);
        const uint64_t need = demand.memory;

        if (allowed.empty()) {
            auto ram = ram_for(l, need);
            if (!ram || !overall_ok(l, *ram)) return std::nullopt;
            plan.reservation.ram = *ram;
            plan.reason = *ram < need ? "in RAM, alone: larger than the machine's RAM budget" : "in RAM";
            return plan;
        }

        uint64_t capacity = 0;
        for (auto i : allowed) capacity += machine.devices[i].capacity;
        const uint64_t whole = need + demand.per_device_overhead * (allowed.size() - 1);
        auto free_of = [&](std::size_t i) { return saturating_sub(machine.devices[i].capacity, l.device_reserved[i]); };

        if (need <= capacity && whole <= capacity) {
            // One GPU: the one with the least free memory that still holds it.
            std::optional<std::size_t> best;
            for (auto i : allowed) {
                if (free_of(i) >= need && (!best || free_of(i) < free_of(*best))) best = i;
            }
            if (best) {
                if (!overall_ok(l, need)) return std::nullopt;
                plan.reservation.devices.push_back({machine.devices[*best].id, need});
                plan.reason = "on " + machine.devices[*best].id;
                return plan;
            }
            // A split over the fewest GPUs: those with the most free memory.
            auto by_free = allowed;
            std::stable_sort(by_free.begin(), by_free.end(), [&](auto a, auto b) { return free_of(a) > free_of(b); });
            for (std::size_t k = 2; k <= by_free.size(); ++k) {
                std::vector<std::size_t> chosen(by_free.begin(), by_free.begin() + static_cast<std::ptrdiff_t>(k));
                uint64_t free_sum = 0;
                for (auto i : chosen) free_sum += free_of(i);
                const uint64_t split_need = need + demand.per_device_overhead * (k - 1);
                if (split_need > free_sum) continue;
                if (!overall_ok(l, split_need)) return std::nullopt;
                std::sort(chosen.begin(), chosen.end());  // the server numbers its devices in machine order
                std::vector<uint64_t> shares;
                uint64_t given = 0;
                for (auto i : chosen) {
                    auto share = static_cast<uint64_t>(static_cast<long double>(split_need) * free_of(i) / free_sum);
                    share = std::min(share, free_of(i));
                    shares.push_back(share);
                    given += share;
                }
                for (std::size_t j = 0; j < chosen.size() && given < split_need; ++j) {
                    auto more = std::min(split_need - given, free_of(chosen[j]) - shares[j]);
                    shares[j] += more;
                    given += more;
                }
                for (std::size_t j = 0; j < chosen.size(); ++j)
                    plan.reservation.devices.push_back({machine.devices[chosen[j]].id, shares[j]});
                plan.reason = "split over " + std::to_string(k) + " GPUs in proportion to their free memory";
                return plan;
            }
            return std::nullopt;
        }

        // Larger than the allowed GPUs even when empty: it takes them whole, the rest in RAM.
        for (auto i : allowed) {
            if (l.device_reserved[i] != 0) return std::nullopt;
        }
        std::vector<std::size_t> in_order = allowed;
        std::sort(in_order.begin(), in_order.end());
        for (auto i : in_order) plan.reservation.devices.push_back({machine.devices[i].id, machine.devices[i].capacity});
        if (demand.partial_offload) {
            auto ram = ram_for(l, whole - capacity);
            if (!ram) return std::nullopt;
            plan.reservation.ram = *ram;
            plan.reason = "partial offload: every allowed GPU, the rest in RAM";
        } else {
            plan.reason = "larger than its GPUs, and gpu_layers \"all\" keeps it off RAM: loaded alone on them";
        }
        if (!overall_ok(l, plan.reservation.total())) return std::nullopt;
        return plan;
    }

    // Whether evicting `r` could help: it counts against max_loaded, or holds what the model can use.
    bool relevant(const Resident& r, std::size_t count) const {
        if (!count_ok(count)) return true;
        if (r.reservation.machine != machine.name || machine.managed_elsewhere) return false;
        if (machine.overall_cap || ((allowed.empty() || demand.partial_offload) && r.reservation.ram > 0)) return true;
        for (auto i : allowed) {
            if (r.reservation.on(machine.devices[i].id) > 0) return true;
        }
        return false;
    }
};

}  // namespace

const DeviceSlot* Machine::device(std::string_view id) const {
    for (const auto& d : devices) {
        if (d.id == id) return &d;
    }
    return nullptr;
}

uint64_t Reservation::total() const {
    uint64_t sum = ram;
    for (const auto& [id, bytes] : devices) sum += bytes;
    return sum;
}

uint64_t Reservation::on(std::string_view device_id) const {
    for (const auto& [id, bytes] : devices) {
        if (id == device_id) return bytes;
    }
    return 0;
}

std::variant<std::vector<std::size_t>, std::string> resolve_devices(const Machine& machine, const std::vector<std::string>& selectors) {
    std::vector<std::size_t> out;
    for (const auto& selector : selectors) {
        std::vector<std::size_t> matches;
        const auto wanted = lower(selector);
        for (std::size_t i = 0; i < machine.devices.size(); ++i) {
            if (lower(machine.devices[i].id) == wanted) matches = {i};
        }
        if (matches.empty()) {
            const auto prefix = bare_uuid(selector);
            for (std::size_t i = 0; i < machine.devices.size() && !prefix.empty(); ++i) {
                const auto uuid = bare_uuid(machine.devices[i].uuid);
                if (!uuid.empty() && uuid.rfind(prefix, 0) == 0) matches.push_back(i);
            }
        }
        if (matches.empty())
            return "\"" + selector + "\" is no device of machine " + machine.name + " (it has " + list_devices(machine) + ")";
        if (matches.size() > 1)
            return "\"" + selector + "\" matches several devices of machine " + machine.name + ": give more of the UUID";
        if (std::find(out.begin(), out.end(), matches[0]) == out.end()) out.push_back(matches[0]);
    }
    return out;
}

Ledger ledger_of(const Machine& machine, const std::vector<Resident>& residents) {
    Ledger l;
    l.device_reserved.assign(machine.devices.size(), 0);
    for (const auto& r : residents) {
        if (r.reservation.machine != machine.name) continue;
        for (std::size_t i = 0; i < machine.devices.size(); ++i) l.device_reserved[i] += r.reservation.on(machine.devices[i].id);
        l.ram_reserved += r.reservation.ram;
        l.total_reserved += r.reservation.total();
    }
    return l;
}

Plan plan_placement(const Machine& machine, const std::vector<Resident>& residents, const Demand& demand, const Limits& limits) {
    Trial trial{machine, demand, limits, {}};
    if (demand.devices.mode == DeviceRequest::Mode::Pinned) {
        auto resolved = resolve_devices(machine, demand.devices.selectors);
        if (auto* error = std::get_if<std::string>(&resolved)) return {Plan::Kind::Impossible, {}, {}, "devices: " + *error};
        trial.allowed = std::get<std::vector<std::size_t>>(resolved);
    } else if (demand.devices.mode == DeviceRequest::Mode::Auto && !machine.managed_elsewhere) {
        trial.allowed.resize(machine.devices.size());
        std::iota(trial.allowed.begin(), trial.allowed.end(), 0);
    }

    std::vector<const Resident*> active;
    for (const auto& r : residents) active.push_back(&r);
    if (auto plan = trial.fit(active)) return *plan;

    // Instances already stopping free their share by themselves.
    std::erase_if(active, [](const Resident* r) { return r->stopping; });
    if (trial.fit(active)) return {Plan::Kind::Wait, {}, {}, "waiting for an instance to stop"};

    std::vector<const Resident*> candidates;
    for (const auto* r : active) {
        if (r->idle) candidates.push_back(r);
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const auto* a, const auto* b) { return a->last_used < b->last_used; });
    std::vector<const Resident*> evicted;
    bool fits = false;
    for (const auto* victim : candidates) {
        if (!trial.relevant(*victim, active.size())) continue;
        std::erase(active, victim);
        evicted.push_back(victim);
        if ((fits = trial.fit(active).has_value())) break;
    }
    if (!fits) return {Plan::Kind::Wait, {}, {}, "every instance holding what it needs is busy"};

    // Keep whoever turned out not to be needed, the most recently used first.
    for (auto it = evicted.rbegin(); it != evicted.rend();) {
        active.push_back(*it);
        if (trial.fit(active)) {
            it = decltype(it)(evicted.erase(std::next(it).base()));
        } else {
            active.pop_back();
            ++it;
        }
    }
    Plan plan{Plan::Kind::Evict, {}, {}, {}};
    for (const auto* r : evicted) plan.evict.push_back(r->name);
    return plan;
}

}  // namespace corral::scheduler
