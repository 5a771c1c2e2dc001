/* setgid_sanitizer - include once, in the main file of a setgid program
 * (postdrop, postqueue), and nowhere else.
 *
 * A setgid process is not dumpable, so LeakSanitizer's end-of-process scan
 * (which stops the process with ptrace) dies with "LeakSanitizer has
 * encountered a fatal error" and turns every run into exit 1 in the
 * ASan+UBSan build. The kernel's secure-exec mode also keeps us from
 * relying on LSAN_OPTIONS being honoured, so the default is compiled in.
 * Plain builds get nothing from this header.
 */
#ifndef MTA_SETGID_SANITIZER_H
#define MTA_SETGID_SANITIZER_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MTA_SETGID_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MTA_SETGID_ASAN 1
#endif

#ifdef MTA_SETGID_ASAN
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

#endif
