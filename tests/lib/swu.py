"""SWUpdate images for tests: a self-signed signing certificate made with the
openssl CLI, a CMS-signed sw-description, and the .swu cpio archive ("crc"
format, 070702) that SWUpdate installs. Only the standard library and the
openssl command are used."""
import hashlib
import os
import subprocess


def make_cert(dirname, cn="ramp-test-signer"):
    """Writes key.pem and cert.pem (self-signed, fit for CMS signing) into dirname."""
    key = os.path.join(dirname, "swu-key.pem")
    cert = os.path.join(dirname, "swu-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", "keyUsage=critical,digitalSignature",
                    "-addext", "extendedKeyUsage=emailProtection,codeSigning"],
                   check=True, capture_output=True)
    return key, cert


def sw_description(version, files):
    """libconfig text installing each (name, data, destination path) with the rawfile handler."""
    entries = []
    for name, data, dest in files:
        entries.append('\t\t{\n'
                       f'\t\t\tfilename = "{name}";\n'
                       f'\t\t\tpath = "{dest}";\n'
                       f'\t\t\tsha256 = "{hashlib.sha256(data).hexdigest()}";\n'
                       '\t\t}')
    return ('software =\n{\n'
            f'\tversion = "{version}";\n'
            '\tdescription = "ramp hawkBit end-to-end test";\n'
            '\thardware-compatibility: [ "1.0" ];\n'
            '\tfiles: (\n' + ",\n".join(entries) + '\n\t);\n}\n')


def cms_sign(text, key, cert, dirname):
    src = os.path.join(dirname, "sw-description")
    sig = os.path.join(dirname, "sw-description.sig")
    with open(src, "wb") as f:
        f.write(text)
    subprocess.run(["openssl", "cms", "-sign", "-in", src, "-out", sig, "-signer", cert,
                    "-inkey", key, "-outform", "DER", "-nosmimecap", "-binary"],
                   check=True, capture_output=True)
    with open(sig, "rb") as f:
        return f.read()


def _pad4(n):
    return (4 - n % 4) % 4


def cpio_crc(members):
    """A cpio archive in SVR4 "crc" format of [(name, bytes)], in order."""
    out = bytearray()
    ino = 1
    for name, data in list(members) + [("TRAILER!!!", b"")]:
        nb = name.encode() + b"\0"
        check = sum(data) & 0xffffffff
        mode = 0o100644 if name != "TRAILER!!!" else 0
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), check]
        hdr = b"070702" + b"".join(b"%08X" % v for v in fields)
        out += hdr + nb + b"\0" * _pad4(len(hdr) + len(nb))
        out += data + b"\0" * _pad4(len(data))
        ino += 1
    return bytes(out)


def build_swu(dirname, version, files, key, cert):
    """The .swu bytes: sw-description, its CMS signature, then the payload files."""
    desc = sw_description(version, files).encode()
    sig = cms_sign(desc, key, cert, dirname)
    return cpio_crc([("sw-description", desc), ("sw-description.sig", sig)] +
                    [(name, data) for name, data, _ in files])
