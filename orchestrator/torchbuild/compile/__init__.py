"""The build stage: one package from source to a wheel, resumable and memory-safe.

:mod:`.key` says what makes two builds the same, :mod:`.workdir` keeps a build's directory
between runs, :mod:`.compiler_cache` wires ccache/sccache in, :mod:`.progress` and
:mod:`.display` watch the output, :mod:`.failures` explains a failure, and :mod:`.runner` runs
the recipe's command and retries with fewer jobs when the kernel kills a compiler.
"""
