(module
  (memory (export "memory") 32))
