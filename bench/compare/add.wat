(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  ;; `add` with a loop that runs once: an async call of it could be suspended, so it runs on a fiber (the
  ;; harness's fiber-path rows; `add` itself, with no loop and no call, runs without one).
  (func (export "add_loop") (param i32 i32) (result i32) (loop) local.get 0 local.get 1 i32.add))
