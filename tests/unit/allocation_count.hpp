// Counts the heap allocations the calling thread makes through operator new while an
// AllocationCount lives: the unit-test binary replaces the global operator new and delete with
// ones that count, then call malloc and free (allocation_count.cpp). The aligned forms keep the
// library's and are not counted.
#pragma once

#include <cstddef>

namespace corral::test {

class AllocationCount {
public:
    AllocationCount();
    ~AllocationCount();
    AllocationCount(const AllocationCount&) = delete;
    AllocationCount& operator=(const AllocationCount&) = delete;

    // The allocations so far.
    std::size_t operator()() const;

private:
    std::size_t start_;
};

}  // namespace corral::test
