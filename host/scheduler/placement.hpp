// Where a model's new instance goes: on which machine, on which of its devices (GPUs), with how many
// bytes on each and in RAM, and which idle instances must be evicted first. The ledger is the
// residents' reservations; the decision is pure (no I/O, no clock: the caller passes last-use times),
// so every case is unit-tested in microseconds.
//
// Rules, in order:
//  - a machine whose capacity is managed elsewhere (a cluster scheduler) keeps no ledger;
//  - "cpu" models, and every model of a machine without GPUs, reserve RAM;
//  - otherwise the model goes on the allowed GPUs ("auto": all of the machine's; a pin: those named):
//    one GPU when one holds it (the fullest that does: best fit), else a split over the fewest GPUs
//    with the most free memory, each share in proportion to its free memory (every extra device
//    costs the model's per-device overhead: llama.cpp's compute buffers);
//  - a model bigger than the allowed GPUs even when empty takes them whole (evicting everything idle
//    on them) and, when its gpu_layers allow partial offload, puts the rest in RAM;
//  - a model bigger than the machine is loaded alone on it (the estimate may be pessimistic);
//  - to make room, idle instances on the resources the model can use are evicted, least recently
//    used first, and only as many as needed; busy instances never; other machines are untouched.
#pragma once

#include "config/device_request.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace corral::scheduler {

// One GPU of a machine.
struct DeviceSlot {
    std::string id;    // "cuda:0", "vulkan:1", "metal:0": backend and the index its servers see
    std::string kind;  // the backend: "cuda", "vulkan", "metal"
    int32_t index = 0;
    std::string name;
    std::string uuid;
    uint64_t memory_total = 0;
    uint64_t capacity = 0;  // what corral may reserve on it: the total less memory_headroom
};

struct Machine {
    std::string name;                 // "local", or a remote runner's machine
    std::vector<DeviceSlot> devices;  // GPUs only
    uint64_t ram_total = 0;
    std::optional<uint64_t> ram_capacity;  // what models may reserve in RAM; empty: not known (no limit)
    std::optional<uint64_t> overall_cap;   // scheduler.memory_budget: devices and RAM together
    bool managed_elsewhere = false;        // its capacity is someone else's business: no ledger

    const DeviceSlot* device(std::string_view id) const;
};

using config::DeviceRequest;

// Indices into machine.devices for a pin, or the message saying which selector matched nothing (or
// more than one device) and what the machine has.
std::variant<std::vector<std::size_t>, std::string> resolve_devices(const Machine& machine, const std::vector<std::string>& selectors);

// What a new instance needs.
struct Demand {
    std::string model;
    uint64_t memory = 0;               // the whole footprint
    uint64_t per_device_overhead = 0;  // what each extra device of a split adds (compute buffers)
    DeviceRequest devices;
    bool partial_offload = true;  // layers may stay in RAM (gpu_layers "auto", a count or unset; not "all")
};

// Bytes held on one machine: per device (in the order the server sees its devices) and in RAM.
struct Reservation {
    std::string machine;
    std::vector<std::pair<std::string, uint64_t>> devices;  // device id -> bytes
    uint64_t ram = 0;

    uint64_t total() const;
    uint64_t on(std::string_view device_id) const;
    bool operator==(const Reservation&) const = default;
};

// A loaded (or starting, or stopping) instance and what it holds.
struct Resident {
    std::string name;  // the model it serves
    Reservation reservation;
    bool idle = false;      // no request in flight or waiting
    bool stopping = false;  // on its way out: still holds its memory, frees it by itself
    std::chrono::steady_clock::time_point last_used;
};

struct Limits {
    std::optional<int32_t> max_loaded;  // instances on every machine together
};

struct Plan {
    enum class Kind {
        Place,       // start it now, with `reservation`
        Evict,       // stop `evict` first (then plan again)
        Wait,        // room comes from instances already stopping, or busy ones going idle
        Impossible,  // it can never go there (`reason`: a pin that names no device of the machine)
    };
    Kind kind = Kind::Place;
    Reservation reservation;
    std::vector<std::string> evict;
    std::string reason;  // Wait and Impossible: why; Place: how it was placed, for the log
};

Plan plan_placement(const Machine& machine, const std::vector<Resident>& residents, const Demand& demand, const Limits& limits);

// Free bytes per device of `machine` and in its RAM, after the residents on it.
struct Ledger {
    std::vector<uint64_t> device_reserved;  // parallel to machine.devices
    uint64_t ram_reserved = 0;
    uint64_t total_reserved = 0;
};
Ledger ledger_of(const Machine& machine, const std::vector<Resident>& residents);

}  // namespace corral::scheduler
