# CPack packaging: a Debian package (DEB generator) and an RPM (RPM
# generator) of the install tree. scripts/package.sh configures a build
# directory per format (the RPM one with CentOS's paths: daemons in
# /usr/libexec/postfix, sendmail.postfix for alternatives) and runs cpack.
# MTA_PACKAGE_FORMAT selects the generator and its maintainer scripts.
set(MTA_PACKAGE_FORMAT "DEB" CACHE STRING "cpack generator: DEB or RPM")
set(MTA_PACKAGE_VERSION "3.7.11" CACHE STRING "package version (Postfix release emulated)")

set(CPACK_PACKAGE_NAME "postfix-compatible-mta")
set(CPACK_PACKAGE_VERSION ${MTA_PACKAGE_VERSION})
set(CPACK_PACKAGE_CONTACT "Mail system maintainers <postmaster@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Postfix-compatible mail transport agent")
set(CPACK_PACKAGE_DESCRIPTION "A multi-process mail transport agent that reads Postfix's main.cf and master.cf, uses Postfix's commands, paths and queue layout, and replaces Postfix as the system's MTA.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/")
set(CPACK_GENERATOR ${MTA_PACKAGE_FORMAT})
set(CPACK_PACKAGE_FILE_NAME "${CPACK_PACKAGE_NAME}_${MTA_PACKAGE_VERSION}")
set(CPACK_STRIP_FILES OFF)

# Debian: the relations of Debian's postfix, so bsd-mailx & co. are
# satisfied by us and apt removes postfix rather than installing both.
set(_deb ${CMAKE_SOURCE_DIR}/packaging/debian)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "mail")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Library dependencies with versions, from the binaries (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "adduser, netbase, init-system-helpers (>= 1.54~)")
set(CPACK_DEBIAN_PACKAGE_PROVIDES "mail-transport-agent, default-mta")
set(CPACK_DEBIAN_PACKAGE_CONFLICTS "postfix, mail-transport-agent")
set(CPACK_DEBIAN_PACKAGE_REPLACES "postfix, mail-transport-agent")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_deb}/conffiles ${_deb}/postinst ${_deb}/prerm ${_deb}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM (CentOS 8): the relations of CentOS's postfix; sendmail, mailq and
# newaliases through alternatives (%post/%preun below).
set(_rpm ${CMAKE_SOURCE_DIR}/packaging/rpm)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "IPL-1.0 or EPL-2.0")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_PROVIDES "MTA, smtpd, smtpdaemon, server(smtp)")
set(CPACK_RPM_PACKAGE_CONFLICTS "postfix")
set(CPACK_RPM_PACKAGE_OBSOLETES "")
set(CPACK_RPM_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "/usr/sbin/alternatives")
set(CPACK_RPM_PACKAGE_REQUIRES_PREUN "/usr/sbin/alternatives")
set(CPACK_RPM_PRE_INSTALL_SCRIPT_FILE ${_rpm}/pre)
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${_rpm}/post)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${_rpm}/preun)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${_rpm}/postun)
# Directories the base system owns must not become ours.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc/logrotate.d /lib/systemd /lib/systemd/system /usr/lib/systemd /usr/lib/systemd/system
    /usr/libexec /usr/share /etc /usr/sbin /usr/bin
    /usr/share/man /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8)
set(CPACK_RPM_USER_FILELIST "%config(noreplace) /etc/logrotate.d/postfix")
# No /usr/lib/.build-id links: they would clash with other packages' and
# CentOS's postfix ships none in the main package.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define _build_id_links none")

include(CPack)
