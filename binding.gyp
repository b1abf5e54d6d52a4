{
  "targets": [
    {
      "target_name": "mbam_vss",
      "sources": [
        "native/src/addon.cc",
        "native/src/common/errors.cc",
        "native/src/common/event_bridge.cc",
        "native/src/common/live_objects.cc",
        "native/src/common/loopback.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/src"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-fno-exceptions"
      ],
      "conditions": [
        [
          "OS=='win'",
          {
            "sources": [
              "native/src/win/platform_win.cc",
              "native/src/win/com.cc",
              "native/src/win/vss_api.cc",
              "native/src/win/express_writer.cc",
              "native/src/win/requester.cc",
              "native/src/win/system.cc",
              "native/src/win/writer_spec.cc",
              "native/src/win/hosted_writer.cc",
              "native/src/win/service.cc"
            ],
            "libraries": [
              "ole32.lib",
              "oleaut32.lib",
              "advapi32.lib",
              "vssapi.lib"
            ],
            "defines": [
              "UNICODE",
              "_UNICODE",
              "WIN32_LEAN_AND_MEAN",
              "NOMINMAX"
            ],
            "msvs_settings": {
              "VCCLCompilerTool": {
                "AdditionalOptions": [
                  "/std:c++17",
                  "/W4"
                ],
                "ExceptionHandling": 0
              }
            }
          }
        ],
        [
          "OS!='win'",
          {
            "sources": [
              "native/src/posix/platform_posix.cc",
              "native/src/posix/file_lock.cc",
              "native/src/posix/safe_fs.cc"
            ]
          }
        ],
        [
          "OS=='linux'",
          {
            "sources": [
              "native/src/posix/freeze_guard.cc",
              "native/src/posix/snapshot.cc"
            ]
          }
        ]
      ]
    }
  ]
}
