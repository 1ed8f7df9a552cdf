// The servers a runner supervises, by instance id: a small thread-safe map of shared instances.
// Runners keep what an instance is (its handle, its processes) in their own Instance type; an
// instance's `exited` flag is atomic so callers read it without any lock.
#pragma once

#include <corral/sdk/types.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace corral::plugin_common {

template <class Instance>
class InstanceTable {
public:
    // False, and nothing changes, when the id is already there.
    bool insert(const std::string& id, std::shared_ptr<Instance> instance) {
        std::lock_guard lock(mutex_);
        return instances_.emplace(id, std::move(instance)).second;
    }

    std::shared_ptr<Instance> find(const std::string& id) const {
        std::lock_guard lock(mutex_);
        auto it = instances_.find(id);
        return it == instances_.end() ? nullptr : it->second;
    }

    // Removes and returns it (null when absent).
    std::shared_ptr<Instance> take(const std::string& id) {
        std::lock_guard lock(mutex_);
        auto it = instances_.find(id);
        if (it == instances_.end()) return nullptr;
        auto instance = std::move(it->second);
        instances_.erase(it);
        return instance;
    }

    bool contains(const std::string& id) const {
        std::lock_guard lock(mutex_);
        return instances_.count(id) > 0;
    }

    // Every instance, or those still running, as they are now.
    std::vector<std::shared_ptr<Instance>> all() const {
        std::lock_guard lock(mutex_);
        std::vector<std::shared_ptr<Instance>> out;
        for (const auto& [id, instance] : instances_) out.push_back(instance);
        return out;
    }
    std::vector<std::shared_ptr<Instance>> running() const {
        std::lock_guard lock(mutex_);
        std::vector<std::shared_ptr<Instance>> out;
        for (const auto& [id, instance] : instances_)
            if (!instance->exited) out.push_back(instance);
        return out;
    }

    // The handles of the running instances, for list_running(); `ids` gets every instance's id.
    std::vector<sdk::ProcessHandle> running_handles(std::set<std::string>& ids) const {
        std::lock_guard lock(mutex_);
        std::vector<sdk::ProcessHandle> out;
        for (const auto& [id, instance] : instances_) {
            ids.insert(id);
            if (!instance->exited) out.push_back(instance->handle);
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Instance>> instances_;
};

}  // namespace corral::plugin_common
