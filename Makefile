# Thin wrappers over CMake/CTest: `make demo` and `make test` set everything up from a fresh clone.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build demo demo-build test test-asan test-fast bench package package-check clang-check format format-check clean

SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' '*.cpp' '*.hpp')

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset default >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo-build:
	@scripts/install-deps.sh --demo
	@cmake --preset demo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Serves examples/configs/demo.json on http://127.0.0.1:8080: two tiny real models (generated here)
# on the test llama-server (fetched once into ~/.cache/corral) and one mock model. Ctrl-C stops it.
# Installs and builds only what that needs (no test engines, no test suites): see README for times.
demo: demo-build
	@mkdir -p $(BUILD)/demo
	@ln -sfn "$$(scripts/fetch-llama-server.sh)" $(BUILD)/demo/llama-server
	@./$(BUILD)/corral-make-tiny-gguf $(BUILD)/demo/tiny-a.gguf tiny-a
	@./$(BUILD)/corral-make-tiny-gguf $(BUILD)/demo/tiny-b.gguf tiny-b
	PATH="$(CURDIR)/$(BUILD)/demo:$$PATH" ./$(BUILD)/corral serve --config examples/configs/demo.json

# Everything CI runs: a formatting check; the Release build with warnings as errors (the
# optimizer's warnings are fixed too) and its Debian package, unpacked into a scratch root and run;
# the same code through Clang's front end (clang-check); then every suite (unit, plugin, e2e, contract, integration, fuzz, example, packaging) once, in the
# ASan + UBSan build (plugins built with the sanitizers too). One test build and one pass keep CI
# within its time on two cores; `make test-fast` runs the same suites in the optimized build.
test: format-check package-check clang-check test-asan

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) $(ASAN_CTEST_ARGS)

# `make test` has checked the Debian package already (package-check: the Release package, the one that
# ships); packing the ASan build's debug binaries again would cost CI a minute and a half for nothing.
test: ASAN_CTEST_ARGS = -E '^packaging[.]deb$$'


# The benchmark suite (bench/README.md): corral side by side with llama-server alone, nginx and
# llama.cpp's router mode. Prints the tables; the JSON goes to $(BUILD)/bench/results.json.
bench: build
	@scripts/install-deps.sh --bench
	@mkdir -p $(BUILD)/bench/models
	@./$(BUILD)/corral-make-tiny-gguf $(BUILD)/bench/models/tiny-a.gguf tiny-a
	@./$(BUILD)/corral-make-tiny-gguf $(BUILD)/bench/models/tiny-b.gguf tiny-b
	./$(BUILD)/corral-bench --corral $(BUILD)/corral --plugins $(BUILD)/plugins --llama-server "$$(scripts/fetch-llama-server.sh)" \
	  --models $(BUILD)/bench/models --work $(BUILD)/bench/work --out $(BUILD)/bench/results.json $(BENCH_ARGS)

# The Debian package (build-package/corral_VERSION_ARCH.deb): a Release build for /usr, without the
# test suites, and CPack (packaging/CMakeLists.txt). Install it with `sudo apt install ./build-package/corral_*.deb`.
package:
	@scripts/install-deps.sh --package
	@cmake --preset package >/dev/null
	@cmake --build build-package -j $(JOBS)
	@cd build-package && cpack -G DEB

# The package `make package` made, unpacked into a scratch root and run from there (as packaging.deb
# does with the test build).
package-check: package
	@tests/packaging/deb_test.sh $(CURDIR)/build-package $(CURDIR)/build-package/deb-test

# Every translation unit of corral and its plugins through Clang's front end (warnings as errors):
# the second compiler's row. Clang's warnings come from its front end, so neither the optimizer nor
# code generation and links would add one: -fsyntax-only (scripts/syntax-only-commands.cmake) takes
# 173 s on two cores where the unoptimized build took 221 s and Release 278 s. `cmake --build
# build-clang` still builds it all with Clang.
clang-check: deps
	@cmake --preset clang >/dev/null
	@cmake --build build-clang --target host/console_assets_data.cpp >/dev/null
	@cmake -DBUILD_DIR=build-clang -DOUTPUT=build-clang/syntax-only-commands.txt -P scripts/syntax-only-commands.cmake
	@cd build-clang && xargs -a syntax-only-commands.txt -d '\n' -P $(JOBS) -I{} sh -c '{}' \
	  || (echo 'clang-check: Clang found the problems above' && exit 1)

format:
	clang-format -i $(SOURCES)

format-check: deps
	@clang-format --dry-run --Werror $(SOURCES) || (echo 'Formatting differs from .clang-format: run make format' && exit 1)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-package build-clang
