/*
 * corral plugin ABI, version 1.3 (1.1 added the runner call machines(), 1.2 the calls on the disk a
 * runner's servers keep prompt caches on, 1.3 the host's log_line callback; plugins built for 1.0
 * to 1.2 still load).
 *
 * This header is the whole binary contract between the corral host and a plugin shared object.
 * It is pure C (only <stdint.h> and <stddef.h>) so a plugin built with another compiler, C++
 * standard library or Boost release still loads. Structured data (server configs, handles,
 * health, probe reports, plugin options) crosses the boundary as UTF-8 JSON; the schemas are
 * documented in corral/sdk/types.hpp.
 *
 * Memory rule: nothing allocated on one side is freed on the other.
 *   - Strings handed to a call (corral_str) are BORROWED: valid only for the duration of that call.
 *   - Results come back through a corral_sink that the HOST owns: the plugin appends bytes, the
 *     host keeps the buffer. A sink is valid only for the duration of the call it was passed to.
 *   - The descriptor, vtables and the strings they point to are owned by the plugin and must stay
 *     valid while the library is loaded (the host never unloads a plugin before exit).
 *
 * Versioning: a host accepts a plugin when abi_major equals its own major and abi_minor is not
 * newer than its own minor. Every struct starts with its own struct_size so later minor versions
 * can append members; a reader never touches a member beyond struct_size.
 *
 * Threads: every vtable function may block; the host calls them from worker threads, never from
 * its network I/O threads, and may call different functions of one instance concurrently. The
 * host API callbacks are thread-safe and may be called from any plugin thread.
 */
#ifndef CORRAL_SDK_PLUGIN_ABI_H
#define CORRAL_SDK_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORRAL_ABI_MAJOR 1
#define CORRAL_ABI_MINOR 3

/* "CORRALPL" in ASCII: the first member of every descriptor. */
#define CORRAL_PLUGIN_MAGIC UINT64_C(0x4C505F4C4152524F)

/* Name of the ELF section holding the entry-point alias, and of the alias itself. The host lists
 * this section with boost::dll::library_info to find plugins without running any of their code. */
#define CORRAL_PLUGIN_SECTION "corral"
#define CORRAL_PLUGIN_ENTRY_V1 "corral_plugin_entry_v1"

/* A borrowed UTF-8 string; not NUL-terminated. data may be NULL when size is 0. */
typedef struct corral_str {
    const char* data;
    size_t size;
} corral_str;

/* A host-owned output buffer. The plugin calls append() zero or more times; the host owns ctx and
 * the bytes. Valid only during the call it is passed to. */
typedef struct corral_sink {
    void* ctx;
    void (*append)(void* ctx, const char* data, size_t size);
} corral_sink;

/* Status codes returned by every vtable function. On anything but CORRAL_OK, the call's sink holds
 * a human-readable message instead of a result. The values map one to one onto
 * corral::sdk::ProcessError. */
typedef enum corral_status {
    CORRAL_OK = 0,
    CORRAL_START_FAILED = 1,
    CORRAL_STOP_FAILED = 2,
    CORRAL_NOT_RUNNING = 3,
    CORRAL_HEALTH_CHECK_FAILED = 4,
    CORRAL_CONFIGURATION = 5,
    CORRAL_RESOURCE_EXHAUSTED = 6,
    CORRAL_INTERNAL = 7,
    CORRAL_NOT_SUPPORTED = 8
} corral_status;

typedef enum corral_plugin_kind {
    CORRAL_KIND_RUNNER = 1, /* descriptor.vtable points to a corral_runner_vtable */
    CORRAL_KIND_PROBE = 2   /* descriptor.vtable points to a corral_probe_vtable */
} corral_plugin_kind;

/* Capability bits for corral_plugin_descriptor.capabilities. */
#define CORRAL_CAP_ADOPT UINT64_C(0x1)       /* runner: adopt() re-attaches to servers of a previous host */
#define CORRAL_CAP_EXIT_EVENTS UINT64_C(0x2) /* runner: emits CORRAL_EVENT_EXITED when a server dies */
#define CORRAL_CAP_LOG_EVENTS UINT64_C(0x4)  /* runner: emits CORRAL_EVENT_LOG_LINE for server output */
#define CORRAL_CAP_REMOTE UINT64_C(0x8)      /* runner: servers run on another machine */
#define CORRAL_CAP_SLOT_CACHE UINT64_C(0x10) /* runner: servers save slot caches in ServerConfig.slot_save_path (see slot_cache_root) */

typedef enum corral_log_level {
    CORRAL_LOG_TRACE = 0,
    CORRAL_LOG_DEBUG = 1,
    CORRAL_LOG_INFO = 2,
    CORRAL_LOG_WARN = 3,
    CORRAL_LOG_ERROR = 4
} corral_log_level;

typedef enum corral_event_kind {
    CORRAL_EVENT_READY = 1,   /* payload: ProcessHandle JSON */
    CORRAL_EVENT_EXITED = 2,  /* payload: {"exit_code":int|null,"signal":int|null,"message":string} */
    CORRAL_EVENT_LOG_LINE = 3 /* payload: {"stream":"stdout"|"stderr"|"status","line":string}; "status": the runner's own
                                 word on a start under way (e.g. a cluster queue's reason), shown as the instance's message */
} corral_event_kind;

/* An event about one server instance. All members are borrowed for the duration of the callback. */
typedef struct corral_event {
    uint32_t struct_size; /* sizeof(corral_event) as the plugin was built */
    int32_t kind;         /* corral_event_kind */
    corral_str instance_id;
    corral_str payload_json;
} corral_event;

/* Services the host offers a plugin instance. Owned by the host; the pointer passed to create()
 * stays valid until destroy() of that instance returns. Callbacks are thread-safe. */
typedef struct corral_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;
    void* host_ctx; /* opaque, owned by the host: pass it back to every callback */
    /* Log a line under the logger "plugin.<name>". message is borrowed. */
    void (*log)(void* host_ctx, int32_t level, corral_str message);
    /* Report an event about a server instance. event and everything it points to is borrowed. */
    void (*emit)(void* host_ctx, const corral_event* event);
    /* Since 1.3. One line of a server's output: what emit() of a CORRAL_EVENT_LOG_LINE with the
     * payload {"stream": stream, "line": line} reports, without the JSON (a busy server writes
     * thousands of lines a second). Everything is borrowed. A plugin calls it only when struct_size
     * covers it and it is not NULL, and uses emit() otherwise (sdk::Host::emit_log_line does). */
    void (*log_line)(void* host_ctx, corral_str instance_id, corral_str stream, corral_str line);
} corral_host_api;

/* Runner plugins: start and supervise model servers (the ProcessRunner port).
 * `self` is the pointer create() stored; every handle_json is a ProcessHandle as returned by
 * start(), list_running() or adopt(). On failure each function writes a message into its sink. */
typedef struct corral_runner_vtable {
    uint32_t struct_size; /* sizeof(corral_runner_vtable) as the plugin was built */
    /* Make an instance from the runner's options (the JSON object of its "runners" entry, minus
     * "plugin"). On CORRAL_OK, *out_self is set; on failure, err holds the message. */
    int32_t (*create)(const corral_host_api* host, corral_str options_json, void** out_self, corral_sink* err);
    /* Release an instance. The host stops using self before calling it. Never fails. */
    void (*destroy)(void* self);
    /* Start a server (ServerConfig JSON) and return once it is ready to serve: ProcessHandle JSON. */
    int32_t (*start)(void* self, corral_str server_config_json, corral_sink* out);
    /* Stop a server: ask it to exit, force it after grace_ms. CORRAL_NOT_RUNNING if already gone. */
    int32_t (*stop)(void* self, corral_str handle_json, uint64_t grace_ms, corral_sink* out);
    /* *out_running = 1 if the server process still exists, else 0. */
    int32_t (*is_running)(void* self, corral_str handle_json, int32_t* out_running, corral_sink* out);
    /* Probe the server: ServerHealth JSON. */
    int32_t (*health)(void* self, corral_str handle_json, corral_sink* out);
    /* Every server this instance runs or can see: JSON array of ProcessHandle. */
    int32_t (*list_running)(void* self, corral_sink* out);
    /* Re-attach to a server a previous host started (its ProcessHandle JSON, e.g. from an
     * instance record): the refreshed ProcessHandle JSON. NULL when CORRAL_CAP_ADOPT is unset. */
    int32_t (*adopt)(void* self, corral_str handle_json, corral_sink* out);
    /* ABI 1.1, optional (absent from a 1.0 vtable, or NULL): the machine(s) this runner's servers run
     * on, as a JSON array of MachineInfo (name, capacity_managed_elsewhere, the machine's probe
     * reports). CORRAL_NOT_SUPPORTED: the host decides (a local runner shares the host's machine). */
    int32_t (*machines)(void* self, corral_sink* out);
    /* ABI 1.2, optional (absent from an older vtable, or NULL): the disk this runner's servers save
     * prompt caches on when it is not corral's own (CORRAL_CAP_SLOT_CACHE on a remote or cluster
     * runner). The host names, lists and prunes the cache files there through these three calls.
     * slot_cache_root: a JSON string, an absolute directory as the servers see it, under which the
     * host puts every ServerConfig.slot_save_path it gives this runner (the runner creates that
     * directory when it starts the server). CORRAL_NOT_SUPPORTED: the servers keep no caches, unless
     * they run on corral's machine (a runner without CORRAL_CAP_REMOTE whose machines() describes
     * none): those share corral's disk, under its state directory. */
    int32_t (*slot_cache_root)(void* self, corral_sink* out);
    /* Every regular file under dir (a directory under the root, given as an absolute path), at any
     * depth: a JSON array of StoredFile ({"path": relative to dir, "bytes", "modified_ms": Unix
     * time}). A directory that does not exist is an empty array. */
    int32_t (*list_files)(void* self, corral_str dir, corral_sink* out);
    /* Removes each path of paths_json (a JSON array of absolute paths under the root; a directory
     * with everything in it). One that does not exist is no error; one outside the root is refused
     * with CORRAL_CONFIGURATION and nothing is removed. */
    int32_t (*remove_files)(void* self, corral_str paths_json, corral_sink* out);
} corral_runner_vtable;

/* The size of a 1.0 runner vtable: the least the host accepts. */
#define CORRAL_RUNNER_VTABLE_SIZE_1_0 offsetof(corral_runner_vtable, machines)
/* The size of a 1.1 runner vtable. */
#define CORRAL_RUNNER_VTABLE_SIZE_1_1 offsetof(corral_runner_vtable, slot_cache_root)

/* System-probe plugins: report compute devices and memory. */
typedef struct corral_probe_vtable {
    uint32_t struct_size; /* sizeof(corral_probe_vtable) as the plugin was built */
    int32_t (*create)(const corral_host_api* host, corral_str options_json, void** out_self, corral_sink* err);
    void (*destroy)(void* self);
    /* ProbeReport JSON. A backend that is absent is not a failure: report available=false. */
    int32_t (*probe)(void* self, corral_sink* out);
} corral_probe_vtable;

/* What a plugin is. Returned by the entry point; owned by the plugin, static lifetime. All strings
 * are NUL-terminated UTF-8. */
typedef struct corral_plugin_descriptor {
    uint64_t magic;                /* CORRAL_PLUGIN_MAGIC */
    uint32_t struct_size;          /* sizeof(corral_plugin_descriptor) as the plugin was built */
    uint16_t abi_major;            /* CORRAL_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor;            /* CORRAL_ABI_MINOR the plugin was built against */
    const char* sdk_version;       /* e.g. "0.1.0" */
    const char* build_fingerprint; /* compiler, standard library, language level: diagnostics only */
    const char* name;              /* unique among loaded plugins: [a-z0-9_]+ */
    const char* version;           /* the plugin's own version */
    int32_t kind;                  /* corral_plugin_kind */
    uint64_t capabilities;         /* CORRAL_CAP_* bits */
    const char* description;       /* one line */
    const char* config_schema;     /* JSON Schema of the options object; "" when it takes none */
    const void* vtable;            /* corral_runner_vtable* or corral_probe_vtable* per kind */
} corral_plugin_descriptor;

/* The entry point: returns the plugin's descriptor; must not fail and must have no side effects. */
typedef const corral_plugin_descriptor* (*corral_plugin_entry_v1_fn)(void);

/* Export the entry point `fn` under the name corral_plugin_entry_v1, as a pointer variable placed in
 * the "corral" section (the layout of Boost.DLL's BOOST_DLL_ALIAS_SECTIONED, so the host can list it
 * without loading the library). Use once per plugin, at file scope, in C or C++. */
#ifdef __cplusplus
#define CORRAL_ABI_EXTERN_C extern "C"
#else
#define CORRAL_ABI_EXTERN_C extern
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CORRAL_EXPORT_PLUGIN_ENTRY(fn)                                                                   \
    CORRAL_ABI_EXTERN_C __attribute__((visibility("default"))) const void* corral_plugin_entry_v1;       \
    __attribute__((visibility("default"), section("corral"), weak)) const void* corral_plugin_entry_v1 = \
        (const void*)(intptr_t)(corral_plugin_entry_v1_fn)(fn)
#else
#error "corral plugins are built with GCC or Clang"
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CORRAL_SDK_PLUGIN_ABI_H */
