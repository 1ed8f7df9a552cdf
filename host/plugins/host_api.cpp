#include "plugins/host_api.hpp"

#include "logging/logging.hpp"

#include <boost/json.hpp>

#include <cstddef>

namespace corral::plugins {

namespace {

std::string_view view(corral_str s) noexcept {
    return s.data ? std::string_view(s.data, s.size) : std::string_view();
}

}  // namespace

PluginHostApi::PluginHostApi(std::string plugin_name, RunnerEventHandler on_event, RunnerLineHandler on_line)
    : plugin_name_(std::move(plugin_name)),
      logger_(logging::get("plugin." + plugin_name_)),
      on_event_(std::move(on_event)),
      on_line_(std::move(on_line)),
      api_{sizeof(corral_host_api), CORRAL_ABI_MAJOR,     CORRAL_ABI_MINOR,        this,
           &PluginHostApi::log,     &PluginHostApi::emit, &PluginHostApi::log_line} {}

void PluginHostApi::log(void* ctx, int32_t level, corral_str message) noexcept {
    try {
        auto* self = static_cast<PluginHostApi*>(ctx);
        std::string_view text(message.data ? message.data : "", message.data ? message.size : 0);
        spdlog::level::level_enum lvl = spdlog::level::info;
        switch (level) {
            case CORRAL_LOG_TRACE:
                lvl = spdlog::level::trace;
                break;
            case CORRAL_LOG_DEBUG:
                lvl = spdlog::level::debug;
                break;
            case CORRAL_LOG_INFO:
                lvl = spdlog::level::info;
                break;
            case CORRAL_LOG_WARN:
                lvl = spdlog::level::warn;
                break;
            default:
                lvl = spdlog::level::err;
                break;
        }
        self->logger_->log(lvl, "{}", text);
    } catch (...) {
        // Logging must never throw into a plugin.
    }
}

void PluginHostApi::emit(void* ctx, const corral_event* event) noexcept {
    auto* self = static_cast<PluginHostApi*>(ctx);
    try {
        if (!event || event->struct_size < offsetof(corral_event, payload_json) + sizeof(corral_str)) {
            self->logger_->warn("ignored a malformed event (struct too small)");
            return;
        }
        RunnerEvent ev;
        switch (event->kind) {
            case CORRAL_EVENT_READY:
                ev.kind = RunnerEvent::Kind::Ready;
                break;
            case CORRAL_EVENT_EXITED:
                ev.kind = RunnerEvent::Kind::Exited;
                break;
            case CORRAL_EVENT_LOG_LINE:
                ev.kind = RunnerEvent::Kind::LogLine;
                break;
            default:
                self->logger_->warn("ignored an event of unknown kind {}", event->kind);
                return;
        }
        ev.runner = self->plugin_name_;
        ev.instance_id = view(event->instance_id);
        boost::json::error_code ec;
        ev.payload = boost::json::parse(view(event->payload_json), ec);
        if (ec) {
            self->logger_->warn("event for instance {} has an invalid JSON payload: {}", ev.instance_id, ec.message());
            return;
        }
        if (ev.kind == RunnerEvent::Kind::Exited) {
            self->logger_->info("instance {} exited: {}", ev.instance_id, boost::json::serialize(ev.payload));
        }
        if (self->on_event_) self->on_event_(std::move(ev));
    } catch (const std::exception& e) {
        self->logger_->error("event handler failed: {}", e.what());
    } catch (...) {
        self->logger_->error("event handler failed");
    }
}

void PluginHostApi::log_line(void* ctx, corral_str instance_id, corral_str stream, corral_str line) noexcept {
    auto* self = static_cast<PluginHostApi*>(ctx);
    try {
        if (self->on_line_) {
            self->on_line_(view(instance_id), view(stream), view(line));
        } else if (self->on_event_) {
            RunnerEvent ev{RunnerEvent::Kind::LogLine, self->plugin_name_, std::string(view(instance_id)),
                           boost::json::object{{"stream", view(stream)}, {"line", view(line)}}};
            self->on_event_(std::move(ev));
        }
    } catch (const std::exception& e) {
        self->logger_->error("event handler failed: {}", e.what());
    } catch (...) {
        self->logger_->error("event handler failed");
    }
}

}  // namespace corral::plugins
