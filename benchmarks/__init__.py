"""loggerd's benchmarks and its crash harness. Each runs from the repository root as a module,
`python -m benchmarks.NAME`, so that one can import another's parts (the tests import the crash
harness's comparison) by their package names."""
