#!/usr/bin/env bats
load helpers/common

@test "placeholder" {
  skip "not written yet"
}
