quoting {
    backslash "C:\\path\\"
    empty ""
    inner-quotes "say \"hi\" 'there'"
    looks-like-comment "//not-a-comment"
    multi-line "first
second"
    non-ascii "café"
    plain a.b_c:d/e@f+g-h
    tabs "a	b"
    "weird name" value
    word-with-braces "{x}"
}
