"""Adobe LCP text for the tests: the XMP envelope and the element spelling of a frame's fields."""

from __future__ import annotations

HEAD = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'xmlns:stCamera="http://ns.adobe.com/photoshop/1.0/camera-profile">'
        '<photoshop:CameraProfiles><rdf:Seq>\n')
TAIL = '</rdf:Seq></photoshop:CameraProfiles></rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>\n'


def elements(fields: dict, indent="  ") -> str:
    """``<stCamera:Key>value</stCamera:Key>`` lines; a dict value becomes a nested resource."""
    out = []
    for k, v in fields.items():
        if isinstance(v, dict):
            out.append(f'{indent}<stCamera:{k} rdf:parseType="Resource">\n{elements(v, indent + "  ")}'
                       f'{indent}</stCamera:{k}>\n')
        else:
            out.append(f"{indent}<stCamera:{k}>{v}</stCamera:{k}>\n")
    return "".join(out)
