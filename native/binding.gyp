# Entry point for node-gyp (run from native/ by ./Makefile) so that the build
# output lands in native/build/Release/fuse_native.node; the real target is in
# fuse/binding.gyp next to the patched fuse-native sources.
{
  "targets": [{
    "target_name": "polykey_native",
    "type": "none",
    "dependencies": [
      "fuse/binding.gyp:fuse_native",
      "harden/binding.gyp:polykey_harden"
    ]
  }]
}
