#include "lineread.h"

enum line_status line_read(FILE *fp, strbuf *line, size_t limit, bool strip_cr)
{
    strbuf_reset(line);
    bool got_any = false, too_long = false;
    int c;
    while ((c = getc(fp)) != EOF) {
        got_any = true;
        if (c == '\n')
            break;
        if (line->len < limit)
            strbuf_putc(line, (char)c);
        else
            too_long = true;
    }
    if (c == EOF && ferror(fp))
        return LINE_ERROR;
    if (!got_any)
        return LINE_EOF;
    if (strip_cr && line->len > 0 && line->s[line->len - 1] == '\r')
        strbuf_truncate(line, line->len - 1);
    return too_long ? LINE_TOO_LONG : LINE_OK;
}
