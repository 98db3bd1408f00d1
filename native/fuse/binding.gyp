# Polykey's patched copy of fuse-native 2.2.6's binding.gyp (MIT, see ./LICENSE).
# POLYKEY: links the system libfuse 2.9 found through pkg-config (Debian
# libfuse-dev) instead of fuse-shared-library's bundled .so, uses the vendored
# napi-macros.h next to this file, and names the addon fuse_native.node.
# The "postinstall" target that copied the bundled libfuse.so is gone.
# Built via ../binding.gyp (see ../Makefile) so the output lands in native/build/.
{
  "targets": [{
    "target_name": "fuse_native",
    # No include_dirs ".": upstream's semaphore.h would shadow <semaphore.h>.
    # napi-macros.h is included with quotes, i.e. relative to fuse-native.c.
    "sources": [
      "fuse-native.c"
    ],
    "cflags": [
      "<!@(pkg-config --cflags fuse)",
      "-g",
      "-O2",
      "-Wall"
    ],
    "libraries": [
      "<!@(pkg-config --libs fuse)"
    ],
    "xcode_settings": {
      "OTHER_CFLAGS": [
        "<!@(pkg-config --cflags fuse)",
        "-g",
        "-O2",
        "-Wall"
      ]
    }
  }]
}
