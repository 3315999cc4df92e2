# custodia: the two commands a newcomer needs are `make run` and `make test`.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DATA_DIR ?= ./var
MASTER_KEY ?= ./custodia-master.key
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build install run test test-release test-asan clean format

all: build

deps:
	@./scripts/install-deps.sh

build/Makefile: CMakeLists.txt
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release

build: deps build/Makefile
	@cmake --build build -j $(JOBS)

# The binary, the systemd unit, the example configuration and the docs (cmake/install.cmake):
# make install PREFIX=/usr DESTDIR=/tmp/root. The Debian package: dpkg-buildpackage -us -uc -b.
install: build
	cmake -S . -B build -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	@cmake --build build -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install build

# make run [CONFIG=FILE] [LISTEN=ADDR:PORT]. First run: initialise ./var (master key
# ./custodia-master.key, outside the data dir) and print the operator's one-time password; every
# run then serves https://127.0.0.1:8443 (or LISTEN). A CONFIG is remembered in
# $(DATA_DIR)/.make-run-config for the runs after it (CONFIG=none forgets it); scripts/run.sh says
# which config is in use and where the server log goes.
run: build
	@./scripts/run.sh ./build/custodia $(DATA_DIR) $(MASTER_KEY) "$(CONFIG)" "$(LISTEN)"

test: deps test-release test-asan

test-release: build
	cd build && ctest --output-on-failure -j $(JOBS)

# The same suite in an ASan+UBSan build (clang), which also builds and runs the fuzz targets.
test-asan: deps
	CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCUSTODIA_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan
