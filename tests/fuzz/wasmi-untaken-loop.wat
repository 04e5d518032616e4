;; Found by tests/fuzz (seed 987682295). wasmi 2.0.0 returns 697266291 from `h(-2147483648)`; the spec answer,
;; which ours and Wasmtime give, is -1450217357 (697266291 ^ 0x80000000): the `else` branch xors 697266291 into
;; global 0 and the code after the `if` xors the argument in. Without the loop in the untaken `then` branch
;; wasmi agrees. The fuzzer checks our answer on every run and reports whether wasmi still differs.
(module
  (type (;0;) (func (param i32 i32) (result i32)))
  (type (;1;) (func (param i64) (result i64)))
  (type (;2;) (func (param f64 f32) (result f64)))
  (type (;3;) (func (param i32) (result i64 f32)))
  (type (;4;) (func (param i32 f64)))
  (import "host" "add" (func (;0;) (type 0)))
  (import "host" "log" (func (;1;) (type 4)))
  (global (;0;) (mut i32) i32.const 0)
  (global (;1;) (mut i64) i64.const 0)
  (global (;2;) (mut i64) i64.const 0)
  (global (;3;) (mut i32) i32.const 0)
  (global (;4;) (mut i32) i32.const 10000)
  (func (;2;) (type 3) (param i32) (result i64 f32)
    (local f32 f64)
    global.get 4
    i32.eqz
    if ;; label = @1
      unreachable
    end
    global.get 4
    i32.const 1
    i32.sub
    global.set 4
    block (result f32) ;; label = @1
      nop
      f64.const 0x1.ab9fa15dd8f85p+313
      f64.neg
      local.get 0
      local.tee 0
      f64.const 0x1.ffffffep-1047
      i64.trunc_sat_f64_s
      i64.clz
      local.get 0
      f32.reinterpret_i32
      f32.ceil
      local.tee 1
      f32.const nan
      local.get 1
      local.get 1
      f32.eq
      select
      i64.trunc_f32_u
      i64.sub
      i32.const 697266291
      local.get 0
      i32.extend16_s
      if (type 3) (param i32) (result i64 f32) ;; label = @2
        call 2
        i32.trunc_sat_f32_s
        nop
        i32.extend16_s
        i32.ctz
        f64.const -0x1.fcc00b31da945p+278
        f64.floor
        local.tee 2
        f64.const nan
        local.get 2
        local.get 2
        f64.eq
        select
        nop
        nop
        i64.trunc_f64_s
        f64.convert_i64_u
        loop ;; label = @3
          global.get 4
          i32.eqz
          if ;; label = @4
            unreachable
          end
          global.get 4
          i32.const 1
          i32.sub
          global.set 4
          block (result i32) ;; label = @4
            nop
            f64.const 0x1.p-1038
            block (result i64) ;; label = @5
              nop
              i32.const -427546337
              nop
              global.get 0
              i32.xor
              global.set 0
              i64.const 127
            end
            global.get 1
            i64.xor
            global.set 1
            i64.reinterpret_f64
            global.get 2
            i64.xor
            global.set 2
            i32.const 813976815
          end
          global.get 0
          i32.xor
          global.set 0
        end
        i64.reinterpret_f64
        global.get 2
        i64.xor
        global.set 2
        global.get 0
        i32.xor
        global.set 0
        f32.const 0x1p-23
      else
        global.get 0
        i32.xor
        global.set 0
        i64.const -4650562149588303147
        f32.const 0x1.9290b2p+91
      end
      i32.reinterpret_f32
      global.get 3
      i32.xor
      global.set 3
      global.get 1
      i64.xor
      global.set 1
      global.get 1
      i64.xor
      global.set 1
      global.get 0
      i32.xor
      global.set 0
      i64.reinterpret_f64
      global.get 2
      i64.xor
      global.set 2
      f32.const -0x1p+1
    end
    i32.reinterpret_f32
    global.get 3
    i32.xor
    global.set 3
    i64.const -3062242946771981986
    f32.const -0x1.09b6bep+65
  )
  (func (export "h") (param i32) (result i32) local.get 0 call 2 drop drop global.get 0)
  (export "f" (func 2))
  (export "g" (global 0))
)
