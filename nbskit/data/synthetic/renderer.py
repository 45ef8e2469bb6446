"""Headless OpenGL (moderngl on EGL) rendering of a textured blendshape head with a hair shell.

One ``HeadRenderer`` holds a GL context, the head's texture atlas and hair shell, and renders
frames as (premultiplied RGB, alpha, z-depth). Images are rendered ``SUPERSAMPLE`` times larger
and box-filtered down: with an odd factor the centre sub-pixel of each block sits exactly on the
pixel centre, so depth is read there (exact, never averaged across an edge) while colour and
alpha get anti-aliased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nbskit.errors import UserError
from nbskit.geometry.camera import opengl_projection

SUPERSAMPLE = 3  # odd: the centre sub-pixel of each block is the pixel centre
NEAR, FAR = 0.05, 10.0  # metres: clip planes for the OpenGL projection
LIGHT_DIRECTION = np.array([0.35, 0.55, 1.0]) / np.linalg.norm([0.35, 0.55, 1.0])  # in head space
AMBIENT, DIFFUSE = 0.38, 0.62

_VERTEX_SHADER = """
#version 330
uniform mat4 projection;
uniform mat4 world_to_camera;
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in float in_opacity;
out vec3 v_normal;
out vec2 v_uv;
out float v_depth;
out float v_opacity;
void main() {
    v_opacity = in_opacity;
    vec4 camera = world_to_camera * vec4(in_position, 1.0);
    v_depth = -camera.z;
    v_normal = in_normal;
    v_uv = in_uv;
    gl_Position = projection * camera;
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2D albedo;
uniform vec3 light_direction;
uniform float ambient;
uniform float diffuse;
in vec3 v_normal;
in vec2 v_uv;
in float v_depth;
in float v_opacity;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_depth;
void main() {
    vec4 texel = texture(albedo, v_uv);
    texel.a *= v_opacity;
    float shade = ambient + diffuse * max(dot(normalize(v_normal), light_direction), 0.0);
    // Premultiplied colour: the hair pass blends its partial coverage over what is below.
    f_color = vec4(texel.rgb * shade * texel.a, texel.a);
    f_depth = v_depth;
}
"""


@dataclass
class RenderedFrame:
    """One frame at the output resolution.

    premultiplied: [H,W,3] float32 colour already multiplied by alpha (add (1-alpha)*background).
    alpha: [H,W] float32 coverage in [0,1] (head and hair).
    depth: [H,W] float32 z-depth of the opaque head mesh at the pixel centre, 0 where none.
    """

    premultiplied: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray

    def over(self, background: np.ndarray) -> np.ndarray:
        """Composite over a background [H,W,3]. Returns [H,W,3] float32 in [0,1]."""
        return np.clip(self.premultiplied + (1.0 - self.alpha[..., None]) * background, 0.0, 1.0)


class OpenGLUnavailable(UserError, RuntimeError):
    """No headless OpenGL context: synthetic subjects cannot be rendered on this machine."""


def create_context():
    """A standalone headless OpenGL 3.3 context (EGL; Mesa llvmpipe works without a GPU)."""
    import moderngl  # the `render` extra; imported here so nbskit imports without it

    try:
        return moderngl.create_context(standalone=True, backend="egl", require=330)
    except Exception as err:  # moderngl raises plain Exception for missing EGL/drivers
        raise OpenGLUnavailable(
            f"could not create a headless OpenGL context with EGL ({err}). Synthetic subjects need "
            "moderngl and an EGL driver (Mesa's llvmpipe works on CPU-only machines: "
            "apt install libegl1 libgl1-mesa-dri)."
        ) from err


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals [V,3] for vertices [V,3] and triangles [T,3]."""
    corners = vertices[triangles]
    face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.stack(
        [np.bincount(triangles.ravel(), np.repeat(face[:, c], 3), minlength=len(vertices)) for c in range(3)],
        axis=1,
    )
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


@dataclass
class HairShells:
    """Hair shells as a triangle soup in head space: positions/normals [N,3], uvs [N,2], opacity [N]."""

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    opacity: np.ndarray


@dataclass
class TexturedMesh:
    """Geometry as the GPU draws it: one render vertex per distinct (model vertex, atlas uv).

    source_vertex: [R] model vertex id of each render vertex; atlas_uv: [R,2]; triangles: [T,3]
    indices into render vertices (model triangles that are drawn, i.e. not ``helper``).
    """

    source_vertex: np.ndarray
    atlas_uv: np.ndarray
    triangles: np.ndarray
    model_triangles: np.ndarray  # [T,3] the same triangles in model vertex ids (for normals)


class HeadRenderer:
    """Renders one head (mesh + atlas texture) and an optional static hair shell."""

    def __init__(self, ctx, width: int, height: int, K: np.ndarray):
        self.ctx = ctx
        self.width, self.height = width, height
        self.big = (width * SUPERSAMPLE, height * SUPERSAMPLE)
        big_K = K.copy()
        big_K[:2] *= SUPERSAMPLE  # focal lengths and principal point scale with the pixel grid
        self.projection = opengl_projection(big_K, *self.big, NEAR, FAR)
        self.program = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.program["light_direction"].value = tuple(LIGHT_DIRECTION)
        self.program["ambient"].value = AMBIENT
        self.program["diffuse"].value = DIFFUSE
        self.color = ctx.texture(self.big, 4, dtype="f4")
        self.depth_value = ctx.texture(self.big, 1, dtype="f4")
        self.depth_buffer = ctx.depth_renderbuffer(self.big)
        self.fbo_opaque = ctx.framebuffer([self.color, self.depth_value], self.depth_buffer)
        self.fbo_hair = ctx.framebuffer([self.color], self.depth_buffer)  # no depth-value writes
        self._head = None
        self._hair = None

    def set_head(self, mesh: TexturedMesh, atlas: np.ndarray) -> None:
        """Upload the head's topology and its albedo atlas [S,S,3] uint8 (row 0 = v near 0)."""
        self._mesh = mesh
        self._head_texture = self._texture(atlas)
        r = len(mesh.source_vertex)
        self._head_positions = self.ctx.buffer(reserve=r * 12)
        self._head_normals = self.ctx.buffer(reserve=r * 12)
        uv = self.ctx.buffer(mesh.atlas_uv.astype("f4").tobytes())
        opaque = self.ctx.buffer(np.ones(r, "f4").tobytes())
        index = self.ctx.buffer(mesh.triangles.astype("i4").tobytes())
        self._head = self.ctx.vertex_array(
            self.program,
            [
                (self._head_positions, "3f", "in_position"),
                (self._head_normals, "3f", "in_normal"),
                (uv, "2f", "in_uv"),
                (opaque, "1f", "in_opacity"),
            ],
            index_buffer=index,
        )

    def set_hair(self, shells: HairShells, texture: np.ndarray) -> None:
        """Upload static hair shells (triangle soup in head space) and their RGBA strand texture."""
        self._hair_texture = self._texture(texture)
        self._hair_texture.repeat_x = True  # strands wrap around the head
        buffers = [
            (self.ctx.buffer(shells.positions.astype("f4").tobytes()), "3f", "in_position"),
            (self.ctx.buffer(shells.normals.astype("f4").tobytes()), "3f", "in_normal"),
            (self.ctx.buffer(shells.uvs.astype("f4").tobytes()), "2f", "in_uv"),
            (self.ctx.buffer(shells.opacity.astype("f4").tobytes()), "1f", "in_opacity"),
        ]
        self._hair = self.ctx.vertex_array(self.program, buffers)

    def _texture(self, pixels: np.ndarray):
        height, width, channels = pixels.shape
        texture = self.ctx.texture(
            (width, height), channels, np.ascontiguousarray(pixels, np.uint8).tobytes()
        )
        texture.build_mipmaps()
        import moderngl

        texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        return texture

    def render(self, vertices: np.ndarray, c2w: np.ndarray) -> RenderedFrame:
        """Draw the head deformed to ``vertices`` [V,3] (model ids) seen from camera c2w [4,4]."""
        import moderngl

        if self._head is None:
            raise RuntimeError("HeadRenderer.render called before set_head")
        mesh = self._mesh
        normals = vertex_normals(vertices, mesh.model_triangles)
        self._head_positions.write(vertices[mesh.source_vertex].astype("f4").tobytes())
        self._head_normals.write(normals[mesh.source_vertex].astype("f4").tobytes())
        world_to_camera = np.linalg.inv(c2w)
        self.program["projection"].write(self.projection.T.astype("f4").tobytes())  # GL is column-major
        self.program["world_to_camera"].write(world_to_camera.T.astype("f4").tobytes())

        ctx = self.ctx
        self.fbo_opaque.use()
        self.fbo_opaque.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        self._head_texture.use(0)
        self._head.render(moderngl.TRIANGLES)
        if self._hair is not None:
            # Over-compositing of premultiplied colour; the hair tests depth but never writes it.
            self.fbo_hair.use()
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA
            ctx.depth_mask = False
            self._hair_texture.use(0)
            self._hair.render(moderngl.TRIANGLES)
            ctx.depth_mask = True
            ctx.disable(moderngl.BLEND)
        return self._read()

    def _read(self) -> RenderedFrame:
        big_w, big_h = self.big
        color = np.frombuffer(self.color.read(), dtype=np.float32).reshape(big_h, big_w, 4)[::-1]
        depth = np.frombuffer(self.depth_value.read(), dtype=np.float32).reshape(big_h, big_w)[::-1]
        s, h, w = SUPERSAMPLE, self.height, self.width
        blocks = color.reshape(h, s, w, s, 4).mean(axis=(1, 3))
        centre = s // 2
        return RenderedFrame(
            premultiplied=np.ascontiguousarray(blocks[..., :3], dtype=np.float32),
            alpha=np.ascontiguousarray(np.clip(blocks[..., 3], 0.0, 1.0), dtype=np.float32),
            depth=np.ascontiguousarray(depth[centre::s, centre::s], dtype=np.float32),
        )

    def release(self) -> None:
        self.ctx.release()
