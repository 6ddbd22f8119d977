# SPDX-License-Identifier: MIT
# tests/compat/compat.jq: the shape matcher of the compatibility suite (tests/compat/README.md
# describes the shape language). `mism(shape; path)` runs on a JSON value and outputs the
# first mismatch as one line "PATH: what was wanted, what was found", or nothing when the
# value has the shape. $shapes (an object of named shapes, "@Name") comes from the caller.

def brief: tojson | if length > 80 then .[0:77] + "..." else . end;

# is_type(t; v): v is of the one type name t
def is_type($t; $v):
  $t == "any" or $t == ($v | type)
  or ($t == "integer" and ($v | type) == "number" and $v == ($v | floor));

def mism($s; $p):
  . as $v
  | if ($s | type) == "string" and ($s | startswith("@")) then
      mism($shapes[$s[1:]] // error("no shape \($s)"); $p)
    elif ($s | type) == "string" then
      if any(($s | ltrimstr("?") | split("|"))[]; is_type(.; $v)) then empty
      else "\($p): want \($s | ltrimstr("?")), got \($v | type) \($v | brief)" end
    elif ($s | type) == "array" then
      if ($v | type) != "array" then "\($p): want array, got \($v | type) \($v | brief)"
      elif ($s | length) == 0 then empty
      else first(range(0; $v | length) as $i | $v[$i] | mism($s[0]; "\($p)[\($i)]")) end
    elif ($s | type) != "object" then error("bad shape \($s | tojson)")
    elif $s | has("$eq") then
      if $v == $s["$eq"] then empty else "\($p): want \($s["$eq"] | brief), got \($v | brief)" end
    elif $s | has("$in") then
      if any($s["$in"][]; . == $v) then empty
      else "\($p): want one of \($s["$in"] | brief), got \($v | brief)" end
    elif $s | has("$desc") then
      if ($v | type) != "array" then "\($p): want array, got \($v | type) \($v | brief)"
      elif ([$v[][$s["$desc"]]] as $a | $a == ($a | sort | reverse)) then empty
      else "\($p): want \($s["$desc"]) descending, got \([$v[][$s["$desc"]]] | brief)" end
    elif $s | has("$all") then
      first($s["$all"][] as $x | mism($x; $p))
    elif $s | has("$items") then
      if ($v | type) != "array" then "\($p): want array, got \($v | type) \($v | brief)"
      elif ($v | length) < ($s["$min"] // 0) then
        "\($p): want at least \($s["$min"]) items, got \($v | length)"
      elif ($v | length) > ($s["$max"] // infinite) then
        "\($p): want at most \($s["$max"]) items, got \($v | length)"
      else first(range(0; $v | length) as $i | $v[$i] | mism($s["$items"]; "\($p)[\($i)]")) end
    elif ($v | type) != "object" then "\($p): want object, got \($v | type) \($v | brief)"
    else
      first($s | to_entries[] | .key as $k | .value as $ks
        | if $ks == "$absent" then
            (if $v | has($k) then "\($p).\($k): want absent, got \($v[$k] | brief)" else empty end)
          elif ($v | has($k) | not) then
            (if ($ks | type) == "string" and ($ks | startswith("?")) then empty
             else "\($p).\($k): missing" end)
          else $v[$k] | mism($ks; "\($p).\($k)") end)
    end;
