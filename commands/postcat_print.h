/* postcat_print - a queue file in human-readable form, as postcat(1).
 *
 * CONTRACT
 *  - Reads the file only through lib/global/queue_file's reader, so every
 *    length a hostile or corrupt file holds is checked there; this module
 *    only formats what the reader returned.
 *  - Output follows Postfix's postcat: "*** ENVELOPE RECORDS <name> ***",
 *    one "label: value" line per envelope record, "*** MESSAGE CONTENTS
 *    <name> ***" and the content lines, "*** HEADER EXTRACTED <name> ***"
 *    for the extracted segment, "*** MESSAGE FILE END <name> ***".
 *    Record labels are Postfix's where a record means the same
 *    (message_arrival_time, sender, recipient, done_recipient,
 *    original_recipient, dsn_original_recipient, dsn_notify_flags,
 *    named_attribute, sender_fullname, message_size); ours only where
 *    Postfix has none (queue_file_flags, warning_message_time).
 *  - Content is printed byte for byte (8-bit, NUL included); envelope
 *    values have control characters shown as '?' so a sender's text never
 *    moves the terminal.
 *  - Returns 0 when the END record was reached, -1 with the reason in err
 *    for a corrupt or unreadable file (what was read so far is printed, so
 *    an administrator sees where it broke).
 */
#ifndef MTA_POSTCAT_PRINT_H
#define MTA_POSTCAT_PRINT_H
#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"

enum {
    POSTCAT_ENVELOPE = 1, /* -e */
    POSTCAT_HEADER = 2,   /* -h */
    POSTCAT_BODY = 4,     /* -b */
    POSTCAT_OFFSET = 8,   /* -o: file offset of each record */
    POSTCAT_DECIMAL = 16, /* -d: decimal record type of each record */
};

/* Print the queue file behind `fd` (read with pread from offset 0) to
 * `out`, naming it `name` in the section lines. `flags` selects sections;
 * none of ENVELOPE/HEADER/BODY means all three, as Postfix's default. */
int postcat_print(int fd, const char *name, int flags, size_t record_limit, FILE *out, strbuf *err);

#endif
